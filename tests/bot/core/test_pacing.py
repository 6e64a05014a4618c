"""The posting planner: immediate while slots are plentiful, batched when short, the verdict's slot kept."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.debate import DebateStats, PersonaReply
from bot.core.llm import TokenUsage
from bot.core.pacing import (
    EDIT_INTERVAL_S,
    HOLD_S,
    Backlog,
    ChangeFor,
    DeletePart,
    EditPart,
    Send,
    SendFor,
    Wait,
    bucket_allows_from,
    part_change,
    plan,
    plan_changes,
    plan_channel,
    unposted,
)
from bot.core.personas import Persona
from bot.core.render import (
    EMBED_CHARS_PER_MESSAGE,
    EMBEDS_PER_MESSAGE,
    Embed,
    draft_verdict_embeds,
    embed_size,
    pack_messages,
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


# -- a verdict shown while it is written --------------------------------------------------------------


def test_a_growing_draft_edits_its_last_message_and_continues_in_a_new_one() -> None:
    short = pack_messages(draft_verdict_embeds("The crux is "))
    longer = pack_messages(draft_verdict_embeds("The crux is who was aboard."))
    assert part_change(short, short) is None
    assert part_change(short, longer) == EditPart(0, longer[0])
    past_one_message = pack_messages(draft_verdict_embeds("The crux is who was aboard. " * 300))
    assert len(past_one_message) == 2
    assert part_change(short, past_one_message) == EditPart(0, past_one_message[0])
    assert part_change(past_one_message[:1], past_one_message) is None, (
        "the new message is posted, not edited"
    )
    assert unposted(1, past_one_message) == past_one_message[1]
    assert unposted(2, past_one_message) == []


def test_a_verdict_that_got_shorter_deletes_its_surplus_messages_last_first_then_edits() -> None:
    long = pack_messages(draft_verdict_embeds("Aboard were workers. " * 800))
    assert len(long) >= 3
    final = pack_messages(verdict_embeds(PersonaReply("Justified.", "m", 1.0, TokenUsage()), STATS))
    assert part_change(long, final) == DeletePart(len(long) - 1)
    assert part_change(long[:1], final) == EditPart(0, final[0])


@settings(max_examples=150, deadline=None)
@given(
    texts=st.lists(st.text(min_size=1, max_size=3000), min_size=1, max_size=8),
    restart_at=st.integers(0, 8),
    final_length=st.integers(1, 12000),
)
def test_posted_messages_always_end_exactly_as_the_final_verdict(
    texts: list[str], restart_at: int, final_length: int
) -> None:
    """Cumulative drafts (one restarted shorter, as when a fallback model takes over), then the final:
    applying the changes and posting what is unposted converges to the final layout."""
    drafts, text = [], ""
    for index, piece in enumerate(texts):
        text = piece if index == restart_at else text + piece
        drafts.append(pack_messages(draft_verdict_embeds(text)))
    final_text = ("A long verdict. " * 1000)[:final_length]
    final = pack_messages(verdict_embeds(PersonaReply(final_text, "m", 1.0, TokenUsage()), STATS))
    shown: list[list[Embed]] = []
    for layout in [*drafts, final]:
        for _step in range(50):
            change = part_change(shown, layout)
            if isinstance(change, DeletePart):
                del shown[change.index]
            elif isinstance(change, EditPart):
                shown[change.index] = change.embeds
            elif rest := unposted(len(shown), layout):
                shown.append(pack_messages(rest)[0])
            else:
                break
        assert shown == layout
    assert "".join(embed["description"] for message in shown for embed in message) == final_text


def draft_change(
    key: str, *, final: bool = False, last: float = 0.0, not_before: float = 0.0
) -> ChangeFor[str]:
    return ChangeFor(key, EditPart(0, []), final, last, not_before)


def test_drafts_are_edited_a_second_apart_taking_turns() -> None:
    a, b = draft_change("a", last=5.0), draft_change("b", last=3.0)
    free = {"edits_from": float("-inf"), "deletes_from": float("-inf")}
    assert plan_changes([a, b], now=10.0, last_edit=9.5, **free) == Wait(hold_until=9.5 + EDIT_INTERVAL_S)
    assert plan_changes([a, b], now=10.5, last_edit=9.5, **free) == b, "the one changed longest ago"
    assert plan_changes([], now=10.5, last_edit=9.5, **free) == Wait()


def test_a_message_changes_at_most_once_a_second() -> None:
    fresh = draft_change("a", final=True, not_before=10.8)
    free = {"edits_from": float("-inf"), "deletes_from": float("-inf")}
    assert plan_changes([fresh], now=10.0, last_edit=0.0, **free) == Wait(hold_until=10.8)


def test_a_complete_verdict_is_edited_first_and_without_the_drafts_pace_but_within_the_bucket() -> None:
    draft, final = draft_change("a", last=0.0), draft_change("b", final=True, last=9.0)
    free = {"edits_from": float("-inf"), "deletes_from": float("-inf")}
    assert plan_changes([draft, final], now=10.0, last_edit=9.9, **free) == final
    assert plan_changes([draft, final], now=11.0, last_edit=9.9, **free) == final
    spent = {"edits_from": 12.0, "deletes_from": float("-inf")}
    assert plan_changes([draft, final], now=11.0, last_edit=9.9, **spent) == Wait(hold_until=12.0)


def test_deletions_go_first_within_their_own_bucket() -> None:
    deletion = ChangeFor("a", DeletePart(1), True, 0.0)
    final = draft_change("b", final=True)
    free = {"edits_from": float("-inf"), "deletes_from": float("-inf")}
    assert plan_changes([final, deletion], now=10.0, last_edit=9.9, **free) == deletion
    spent = {"edits_from": float("-inf"), "deletes_from": 10.4}
    assert plan_changes([final, deletion], now=10.0, last_edit=9.9, **spent) == final
    assert plan_changes([deletion], now=10.0, last_edit=9.9, **spent) == Wait(hold_until=10.4)


def test_a_bucket_takes_requests_until_it_is_spent_then_waits_for_its_reset() -> None:
    assert bucket_allows_from(None, None) == float("-inf")
    assert bucket_allows_from(2, 15.0) == float("-inf")
    assert bucket_allows_from(0, 15.0) == 15.0
