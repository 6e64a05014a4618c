"""The posting planner: immediate while slots are plentiful, batched when short, the verdict's slot kept."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.debate import DebateStats, PersonaReply
from bot.core.llm import TokenUsage
from bot.core.pacing import HOLD_S, Backlog, Send, SendFor, Wait, plan, plan_channel
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


# -- several debates sharing one channel ------------------------------------------------------------


def backlog(key: str, ready: list[Embed], awaiting: int, verdict_pending: bool = True) -> Backlog[str]:
    return Backlog(key, ready, awaiting, verdict_pending, ready_since=0.0)


def test_one_debate_alone_is_planned_as_before() -> None:
    unit = persona_unit(1)
    for slots, awaiting, pending in [(5, 3, True), (2, 6, True), (1, 0, True), (1, 0, False)]:
        alone = plan_channel([backlog("a", unit, awaiting, pending)], slots=slots, limit=5, now=0.0)
        single = decide(unit, slots=slots, awaiting=awaiting, verdict_pending=pending)
        assert alone == (SendFor("a", single.embeds) if isinstance(single, Send) else single)


def test_each_other_debates_verdict_keeps_a_slot() -> None:
    waiting = [backlog("b", [], 4), backlog("c", [], 4)]
    # Three slots, two of them kept for b's and c's verdicts, the last one for a's own.
    assert plan_channel([backlog("a", persona_unit(1), 3), *waiting], slots=3, limit=5, now=0.0) == Wait()
    verdict = verdict_embeds(PersonaReply("Verdict.", "m", 1, TokenUsage()), STATS)
    ready = persona_unit(1) + verdict
    assert plan_channel([backlog("a", ready, 0, False), *waiting], slots=3, limit=5, now=0.0) == SendFor(
        "a", ready
    )


def test_a_fresh_window_always_lets_a_ready_verdict_out_however_many_debates_wait() -> None:
    others = [backlog(f"other-{n}", [], 4) for n in range(9)]
    verdict = verdict_embeds(PersonaReply("Verdict.", "m", 1, TokenUsage()), STATS)
    decision = plan_channel([*others, backlog("a", verdict, 0, False)], slots=5, limit=5, now=0.0)
    assert decision == SendFor("a", verdict)


def test_the_longest_waiting_debate_goes_first() -> None:
    early = Backlog("early", persona_unit(1), 3, True, ready_since=1.0)
    late = Backlog("late", persona_unit(2), 3, True, ready_since=2.0)
    assert plan_channel([late, early], slots=5, limit=5, now=3.0) == SendFor("early", list(early.ready))


def test_a_note_goes_after_everything_else_of_its_debate() -> None:
    queued = Backlog("a", persona_unit(1), 0, False, ready_since=0.0, note=True)
    assert plan_channel([queued], slots=5, limit=5, now=0.0) == SendFor("a", list(queued.ready))
    only_note = Backlog("a", (), 0, False, ready_since=0.0, note=True)
    assert plan_channel([only_note], slots=5, limit=5, now=0.0) == SendFor("a", [], note=True)
    assert plan_channel([only_note], slots=0, limit=5, now=0.0) == Wait()


@dataclass
class SharedChannel:
    """Debates posting into one channel whose bucket allows ``limit`` messages per ``window_s``."""

    limit: int = 5
    window_s: float = 5.0
    posted: dict[int, list[Embed]] = field(default_factory=dict)
    verdict_posted_at: dict[int, float] = field(default_factory=dict)

    def run(self, debates: list[tuple[list[tuple[float, list[Embed]]], float, list[Embed]]]) -> float:
        """Play every debate's arrivals (persona units, then the verdict) through ``plan_channel``;
        returns when the last message went out."""
        events = sorted(
            [(at, n, unit, False) for n, (arrivals, _, _) in enumerate(debates) for at, unit in arrivals]
            + [(verdict_at, n, verdict, True) for n, (_, verdict_at, verdict) in enumerate(debates)],
            key=lambda event: event[0],
        )
        ready: dict[int, list[Embed]] = {n: [] for n in range(len(debates))}
        since = dict.fromkeys(ready, 0.0)
        awaiting = {n: len(arrivals) for n, (arrivals, _, _) in enumerate(debates)}
        pending = dict.fromkeys(ready, True)
        now, window_start, used, last = 0.0, 0.0, 0, 0.0
        while events or any(ready.values()):
            if now >= window_start + self.window_s:
                window_start, used = now, 0
            backlogs = [Backlog(n, ready[n], awaiting[n], pending[n], since[n]) for n in ready]
            decision = plan_channel(backlogs, slots=self.limit - used, limit=self.limit, now=now)
            if isinstance(decision, SendFor):
                assert used < self.limit, "a send without a slot would be a 429"
                used += 1
                n = decision.key
                self.posted.setdefault(n, []).extend(decision.embeds)
                del ready[n][: len(decision.embeds)]
                since[n], last = now, now
                if not pending[n] and not ready[n]:
                    self.verdict_posted_at[n] = now
                continue
            wake = [window_start + self.window_s] if used else []
            wake += [decision.hold_until] if decision.hold_until is not None else []
            wake += [events[0][0]] if events else []
            now = max(now, min(wake))
            while events and events[0][0] <= now:
                _at, n, unit, is_verdict = events.pop(0)
                if not ready[n]:
                    since[n] = now
                ready[n].extend(unit)
                if is_verdict:
                    pending[n] = False
                else:
                    awaiting[n] -= 1
        return last


@settings(max_examples=200, deadline=None)
@given(
    debates=st.integers(1, 4),
    latencies=st.lists(st.floats(0.2, 1.5), min_size=16, max_size=16),
    lengths=st.lists(st.integers(100, 900), min_size=16, max_size=16),
    verdict_after=st.lists(st.floats(0.3, 1.0), min_size=4, max_size=4),
)
def test_debates_sharing_a_channel_post_in_order_and_each_verdict_on_arrival(
    debates: int, latencies: list[float], lengths: list[int], verdict_after: list[float]
) -> None:
    plans = []
    for n in range(debates):
        arrivals = [(latencies[4 * n + i], persona_unit(100 * n + i, lengths[4 * n + i])) for i in range(4)]
        verdict_at = max(at for at, _ in arrivals) + verdict_after[n]
        verdict = verdict_embeds(PersonaReply(f"Verdict {n}.", "m", 1.0, TokenUsage()), STATS)
        plans.append((arrivals, verdict_at, verdict))
    channel = SharedChannel()
    channel.run(plans)
    for n, (arrivals, verdict_at, verdict) in enumerate(plans):
        in_arrival_order = [embed for _, unit in sorted(arrivals, key=lambda a: a[0]) for embed in unit]
        assert channel.posted[n] == in_arrival_order + verdict, "each debate in order, its verdict last"
        assert channel.verdict_posted_at[n] == verdict_at, "a slot was kept for every verdict"
