"""A debate's queue while its verdict is written: what waits for a message, what needs an edit, when it is
done. The sender's side is driven by hand here; tests/e2e/test_streamed_verdict.py runs the real one."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.debate import DebateStats, PersonaReply
from bot.core.llm import TokenUsage
from bot.core.pacing import EditPart, SendFor, plan_channel
from bot.core.personas import DEFAULT_PANEL
from bot.core.render import (
    EMBED_CHARS_PER_MESSAGE,
    Embed,
    draft_verdict_embeds,
    embed_size,
    pack_messages,
    persona_embeds,
    verdict_embeds,
)
from bot.posting.channels import DebateQueue

STATS = DebateStats(2.0, 6.0, 1.0, TokenUsage(1, 1), 4, 4)


@pytest.fixture(autouse=True)
def drafts_shown_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Most tests here look at drafts once they are shown: no wait before the first one (a test of the
    wait sets its own)."""
    monkeypatch.setattr("bot.posting.channels.FIRST_DRAFT_AFTER_S", 0.0)


def persona(index: int) -> list[Embed]:
    return persona_embeds(DEFAULT_PANEL[index], PersonaReply(f"Answer {index}.", "m", 0.5, TokenUsage(1, 1)))


def final(text: str) -> list[Embed]:
    return verdict_embeds(PersonaReply(text, "m", 1.0, TokenUsage(1, 1)), STATS)


def post_next(queue: DebateQueue, message_id: int, slots: int = 5) -> list[Embed]:
    """What the channel's sender would post next for ``queue`` alone, marked as posted."""
    decision = plan_channel([queue.backlog()], slots=slots, limit=5, now=0.0)
    assert isinstance(decision, SendFor)
    queue._posted(decision, message_id)
    return decision.embeds


def finished(queue: DebateQueue) -> bool:
    """Whether nothing of ``queue`` is left to post or edit (a call: mypy keeps a property narrowed)."""
    return queue.finished


def apply_change(queue: DebateQueue) -> EditPart:
    change = queue._part_change()
    assert isinstance(change, EditPart)
    queue._changed(change)
    return change


async def test_the_first_draft_takes_the_verdicts_slot_with_the_personas_still_waiting_then_grows() -> None:
    queue = DebateQueue(2, "Send Messages")
    queue.add_persona(persona(0))
    queue.add_persona(persona(1))
    assert queue.backlog().verdict_pending, "before its first words, the verdict's slot is kept"
    draft = draft_verdict_embeds("The crux")
    queue.draft_verdict(draft)
    assert not queue.backlog().verdict_pending
    assert post_next(queue, 1, slots=1) == persona(0) + persona(1) + draft
    assert queue.backlog().ready == ()
    assert queue._part_change() is None
    assert not finished(queue), "the verdict is still being written"

    grown = draft_verdict_embeds("The crux is who was aboard")
    queue.draft_verdict(grown)
    assert apply_change(queue) == EditPart(0, persona(0) + persona(1) + grown)
    assert queue._part_change() is None

    queue.add_verdict(final("The crux is who was aboard."))
    assert not finished(queue)
    assert apply_change(queue) == EditPart(0, persona(0) + persona(1) + final("The crux is who was aboard."))
    assert finished(queue)
    queue.draft_verdict(draft)
    assert queue._part_change() is None, "nothing changes the verdict after its final form"


def filling_persona() -> list[Embed]:
    """A persona whose embed takes all but a few characters of a message."""
    size = embed_size(persona_embeds(DEFAULT_PANEL[0], PersonaReply("", "m", 0.5, TokenUsage(1, 1)))[0])
    text = "y" * (EMBED_CHARS_PER_MESSAGE - size - 5)
    return persona_embeds(DEFAULT_PANEL[0], PersonaReply(text, "m", 0.5, TokenUsage(1, 1)))


async def test_personas_filling_a_message_go_alone_and_the_verdict_follows_in_its_own() -> None:
    queue = DebateQueue(1, "Send Messages")
    queue.add_persona(filling_persona())
    queue.draft_verdict(draft_verdict_embeds("The crux"))
    assert post_next(queue, 1) == filling_persona(), "a persona and the draft do not fit one message"
    assert post_next(queue, 2) == draft_verdict_embeds("The crux")
    queue.add_verdict(final("The crux is who was aboard."))
    assert queue.backlog().ready == ()
    assert apply_change(queue) == EditPart(0, final("The crux is who was aboard."))
    assert finished(queue)


async def test_a_draft_past_its_message_continues_in_the_next_posted_in_turn() -> None:
    queue = DebateQueue(0, "Send Messages")
    queue.draft_verdict(draft_verdict_embeds("Aboard. " * 100))
    post_next(queue, 1)
    long = draft_verdict_embeds("Aboard. " * 1000)
    queue.draft_verdict(long)
    layout = pack_messages(long)
    assert list(queue.backlog().ready) == layout[1]
    assert apply_change(queue) == EditPart(0, layout[0])
    assert post_next(queue, 2) == layout[1]
    assert queue._part_change() is None


async def test_an_interruption_leaves_a_shown_draft_as_it_is_and_posts_the_note_after() -> None:
    queue = DebateQueue(0, "Send Messages")
    queue.draft_verdict(draft_verdict_embeds("The shield holds"))
    post_next(queue, 1)
    queue.draft_verdict(draft_verdict_embeds("The shield holds for now"))
    queue.close("interrupted")
    assert queue._part_change() is None
    assert queue.backlog().note
    assert not finished(queue)
    decision = plan_channel([queue.backlog()], slots=5, limit=5, now=0.0)
    assert decision == SendFor(queue, [], note=True)
    queue._posted(decision, 2)
    assert finished(queue)
    assert queue._parts[0].shown == draft_verdict_embeds("The shield holds")


async def test_an_interruption_before_the_draft_was_posted_still_posts_the_personas() -> None:
    queue = DebateQueue(1, "Send Messages")
    queue.add_persona(persona(0))
    queue.draft_verdict(draft_verdict_embeds("Unseen"))
    queue.close("interrupted")
    assert list(queue.backlog().ready) == persona(0)
    assert post_next(queue, 1) == persona(0)
    assert post_next(queue, 2) == []
    assert finished(queue)


async def test_the_first_draft_waits_a_moment_so_a_verdict_complete_by_then_goes_out_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("bot.posting.channels.FIRST_DRAFT_AFTER_S", 0.2)
    quick = DebateQueue(1, "Send Messages")
    quick.add_persona(persona(0))
    quick.draft_verdict(draft_verdict_embeds("The crux"))
    assert quick.backlog().verdict_pending, "the draft waits, its slot kept"
    assert post_next(quick, 1) == persona(0)
    quick.add_verdict(final("The crux is settled."))
    assert post_next(quick, 2) == final("The crux is settled."), "complete in time: posted whole, no edit"
    assert finished(quick)

    slow = DebateQueue(1, "Send Messages")
    slow.add_persona(persona(0))
    slow.draft_verdict(draft_verdict_embeds("The crux"))
    shown_from = slow.draft_shown_from()
    assert shown_from is not None
    assert shown_from - asyncio.get_running_loop().time() == pytest.approx(0.2, abs=0.05)
    await asyncio.sleep(0.25)
    assert post_next(slow, 3) == persona(0) + draft_verdict_embeds("The crux")
    assert slow.draft_shown_from() is None
