"""The posting planner: immediate while slots are plentiful, batched when short, the verdict's slot kept."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.debate import DebateStats, PersonaReply
from bot.core.llm import TokenUsage
from bot.core.pacing import HOLD_S, Send, Wait, plan
from bot.core.personas import Persona
from bot.core.render import (
    EMBED_CHARS_PER_MESSAGE,
    EMBEDS_PER_MESSAGE,
    Embed,
    embed_size,
    persona_embeds,
    verdict_embeds,
)

STATS = DebateStats(2.0, 6.0, 1.0, TokenUsage(1, 1), 10, 10)


def persona_unit(index: int, length: int = 500) -> list[Embed]:
    persona = Persona(f"Persona {index}", "🤖", "Say something.", index)
    text = f"[{index}]" + "x" * (length - len(str(index)) - 2)
    return persona_embeds(persona, PersonaReply(text, "m", 0.5, TokenUsage(1, 1)))


def decide(
    ready: list[Embed], slots: int, awaiting: int, verdict_pending: bool = True, now: float = 0.0
) -> Send | Wait:
    return plan(
        ready, slots=slots, awaiting=awaiting, verdict_pending=verdict_pending, ready_since=0.0, now=now
    )


def test_a_persona_goes_out_at_once_while_slots_are_plentiful() -> None:
    unit = persona_unit(1)
    assert decide(unit, slots=5, awaiting=3) == Send(unit)
    assert decide(unit, slots=2, awaiting=0) == Send(unit)


def test_nothing_ready_means_nothing_to_send() -> None:
    assert decide([], slots=5, awaiting=4) == Wait()


def test_the_last_free_slot_is_held_for_a_batch_but_not_forever() -> None:
    unit = persona_unit(4)
    assert decide(unit, slots=2, awaiting=6) == Wait(hold_until=HOLD_S)
    assert decide(unit, slots=2, awaiting=6, now=HOLD_S) == Send(unit)


def test_the_verdicts_slot_is_never_used_for_personas() -> None:
    assert decide(persona_unit(5), slots=1, awaiting=0) == Wait()
    assert decide(persona_unit(5), slots=0, awaiting=0, verdict_pending=False) == Wait()


def test_with_the_verdict_everything_ready_goes_out_together() -> None:
    ready = (
        persona_unit(5)
        + persona_unit(6)
        + verdict_embeds(PersonaReply("Verdict.", "m", 1, TokenUsage()), STATS)
    )
    decision = decide(ready, slots=1, awaiting=0, verdict_pending=False)
    assert decision == Send(ready)


def test_a_send_is_the_largest_prefix_one_message_holds() -> None:
    ready = [embed for index in range(12) for embed in persona_unit(index, 800)]
    decision = decide(ready, slots=3, awaiting=0)
    assert isinstance(decision, Send)
    assert decision.embeds == ready[: len(decision.embeds)]
    assert sum(embed_size(embed) for embed in decision.embeds) <= EMBED_CHARS_PER_MESSAGE
    assert sum(embed_size(embed) for embed in ready[: len(decision.embeds) + 1]) > EMBED_CHARS_PER_MESSAGE
    assert len(decision.embeds) <= EMBEDS_PER_MESSAGE


@dataclass
class Simulation:
    """A debate's posting against a 5-per-window bucket that does not reset during the debate."""

    slots: int = 5
    messages: list[list[Embed]] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)

    def run(self, arrivals: list[tuple[float, list[Embed]]], verdict_at: float, verdict: list[Embed]) -> None:
        ready: list[Embed] = []
        ready_since = 0.0
        awaiting = len(arrivals)
        verdict_pending = True
        events = [*sorted(arrivals, key=lambda item: item[0]), (verdict_at, verdict)]
        now = 0.0
        while events or ready:
            if events:
                at, unit = events[0]
                decision = plan(
                    ready,
                    slots=self.slots,
                    awaiting=awaiting,
                    verdict_pending=verdict_pending,
                    ready_since=ready_since,
                    now=now,
                )
                if isinstance(decision, Wait) and (decision.hold_until is None or decision.hold_until >= at):
                    events.pop(0)
                    now = at
                    if not ready:
                        ready_since = now
                    ready.extend(unit)
                    if unit is verdict:
                        verdict_pending = False
                    else:
                        awaiting -= 1
                    continue
                if isinstance(decision, Wait):
                    now = decision.hold_until or now
                    continue
            else:
                decision = plan(
                    ready,
                    slots=self.slots,
                    awaiting=0,
                    verdict_pending=False,
                    ready_since=ready_since,
                    now=now,
                )
                if isinstance(decision, Wait):
                    break
            assert isinstance(decision, Send)
            assert self.slots > 0, "a send without a slot would be a 429"
            self.slots -= 1
            self.messages.append(decision.embeds)
            self.sent_at.append(now)
            del ready[: len(decision.embeds)]
            ready_since = now
        assert not ready, "everything must be posted within the window"


@settings(max_examples=300, deadline=None)
@given(
    latencies=st.lists(st.floats(0.3, 0.8), min_size=10, max_size=10),
    lengths=st.lists(st.integers(300, 800), min_size=10, max_size=10),
    verdict_length=st.integers(200, 1500),
)
def test_ten_personas_and_the_verdict_fit_one_window_in_order(
    latencies: list[float], lengths: list[int], verdict_length: int
) -> None:
    units = [persona_unit(index, length) for index, length in enumerate(lengths)]
    verdict = verdict_embeds(PersonaReply("v" * verdict_length, "m", 1.0, TokenUsage()), STATS)
    simulation = Simulation()
    simulation.run(list(zip(latencies, units, strict=True)), max(latencies) + 1.0, verdict)
    assert len(simulation.messages) <= 5
    posted = [embed for message in simulation.messages for embed in message]
    arrival_order = [
        unit for _latency, unit in sorted(zip(latencies, units, strict=True), key=lambda i: i[0])
    ]
    assert posted == [embed for unit in arrival_order for embed in unit] + verdict
    first = simulation.messages[0]
    assert first == arrival_order[0], "the fastest persona goes out alone, at once"
    assert simulation.sent_at[0] == min(latencies)
    posted_at = {
        id(embed): at
        for at, message in zip(simulation.sent_at, simulation.messages, strict=True)
        for embed in message
    }
    assert all(posted_at[id(unit[0])] <= max(latencies) for unit in units), "no persona waits for the verdict"
