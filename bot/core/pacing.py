"""When to post what into a channel, given Discord's per-channel message bucket.

A channel allows a few messages per window (5 per 5 s on Discord). Posting every persona on its own
works for small panels, but a ten-persona debate would then stall for the window to reset. The planner
posts each persona as soon as it is ready while slots are plentiful, always keeps the last slot for the
verdict, and batches personas into one message when slots run short. It never reorders a debate: it
always sends a prefix of what is ready, and a persona's parts stay together and in order.

Several debates may share a channel (a thread where ``/debate`` was used again, a channel without
thread permission). :func:`plan_channel` then keeps a slot for each of their verdicts, so that no
debate's personas take the slot another debate's verdict needs, and serves the longest-waiting first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from bot.core.render import Embed, pack_messages

HOLD_S = 1.5
"""How long ready personas may wait to be batched into the last free slot before going alone."""


@dataclass(frozen=True, slots=True)
class Send:
    """Post ``embeds``, the first of the ready embeds, as one message now."""

    embeds: list[Embed]


@dataclass(frozen=True, slots=True)
class Wait:
    """Post nothing now. ``hold_until`` (loop time) is when to decide again even if nothing changes."""

    hold_until: float | None = None


def plan(
    ready: Sequence[Embed],
    *,
    slots: int,
    awaiting: int,
    verdict_pending: bool,
    ready_since: float,
    now: float,
) -> Send | Wait:
    """Decide what to post next.

    ``ready``: the embeds ready to post, in order (the personas' as they landed, the verdict's last);
    ``slots``: messages the channel's bucket still allows in this window; ``awaiting``: personas not ready;
    ``verdict_pending``: whether a verdict is still to come (its slot is kept free); ``ready_since``: when
    the oldest ready unit became ready.
    """
    if not ready or slots <= 0:
        return Wait()
    usable = slots - 1 if verdict_pending else slots
    if usable <= 0:
        return Wait()  # only the verdict's slot is left: what is ready goes out with the verdict
    if usable == 1 and awaiting > 0 and now < ready_since + HOLD_S:
        return Wait(hold_until=ready_since + HOLD_S)  # keep the last free slot for a batch
    return Send(pack_messages(ready)[0])


Key = TypeVar("Key")


@dataclass(frozen=True, slots=True)
class Backlog(Generic[Key]):
    """One debate's side of a shared channel: what is ready to post, and what is still to come.

    ``note``: a plain message that goes after everything else of the debate (why it was interrupted).
    """

    key: Key
    ready: Sequence[Embed]
    awaiting: int
    verdict_pending: bool
    ready_since: float
    note: bool = False

    @property
    def unfinished(self) -> bool:
        """Whether the debate still has its last message to post (its verdict or its note)."""
        return self.verdict_pending or bool(self.ready) or self.note


@dataclass(frozen=True, slots=True)
class SendFor(Generic[Key]):
    """Post ``embeds`` (or, when ``note``, the debate's note) for the debate ``key`` now."""

    key: Key
    embeds: list[Embed]
    note: bool = False


def plan_channel(
    backlogs: Sequence[Backlog[Key]], *, slots: int, limit: int, now: float
) -> SendFor[Key] | Wait:
    """Decide what to post next in a channel several debates may share.

    ``slots``: messages the bucket allows now; ``limit``: its size when fresh. Each debate is planned as
    :func:`plan` would, with the slots left after keeping one for each OTHER debate whose last message
    (its verdict, or its note) is still to post — at most ``limit - 1`` kept, so that a fresh window
    always lets a ready verdict out. The debate whose ready messages have waited longest goes first.
    """
    unfinished = sum(backlog.unfinished for backlog in backlogs)
    holds: list[float] = []
    for backlog in sorted(backlogs, key=lambda backlog: backlog.ready_since):
        others = min(limit - 1, unfinished - backlog.unfinished)
        free = slots - others
        if not backlog.ready:
            if backlog.note and not backlog.verdict_pending and backlog.awaiting == 0 and free > 0:
                return SendFor(backlog.key, [], note=True)
            continue
        decision = plan(
            backlog.ready,
            slots=free,
            awaiting=backlog.awaiting,
            verdict_pending=backlog.verdict_pending,
            ready_since=backlog.ready_since,
            now=now,
        )
        if isinstance(decision, Send):
            return SendFor(backlog.key, decision.embeds)
        if decision.hold_until is not None:
            holds.append(decision.hold_until)
    return Wait(hold_until=min(holds) if holds else None)


# -- a verdict shown while it is written ------------------------------------------------------------
#
# A streamed verdict is posted as soon as its first words are ready (as the debate's last message, in the
# slot kept for it) and then edited as it grows. Its messages are the packing of its current embeds; the
# ones already posted are brought to that packing by edits (and deletions, when the text got shorter), the
# ones not yet posted go out as messages in turn.

FIRST_DRAFT_AFTER_S = 0.5
"""A verdict is first shown as a draft once it has been written for this long. One that is complete
sooner goes out complete: a message edited at most once a second would otherwise hold its final text
back for up to a second."""

EDIT_INTERVAL_S = 1.0
"""A message changes at most once a second, and the drafts streaming into one channel are edited at most
once a second all together (the pace of Discord's edit bucket, 5 per 5 s per channel): the bucket's slack
is left for the final edits, which end debates."""


@dataclass(frozen=True, slots=True)
class EditPart:
    """Replace the embeds of the verdict's ``index``-th posted message with ``embeds``."""

    index: int
    embeds: list[Embed]


@dataclass(frozen=True, slots=True)
class DeletePart:
    """Delete the verdict's ``index``-th posted message: the verdict no longer reaches it."""

    index: int


PartChange = EditPart | DeletePart


def part_change(shown: Sequence[Sequence[Embed]], layout: Sequence[Sequence[Embed]]) -> PartChange | None:
    """The next change that brings the posted messages (``shown``: what each shows) to ``layout``.

    A message past the end of the layout is deleted first, the last one first (deletion is not paced like
    edits, and stale text should not linger); then the first message that differs is edited. Messages of
    the layout not posted yet are no change: they are posted in turn, in order.
    """
    if len(shown) > len(layout):
        return DeletePart(len(shown) - 1)
    for index, (showing, wanted) in enumerate(zip(shown, layout, strict=False)):
        if list(showing) != list(wanted):
            return EditPart(index, list(wanted))
    return None


def unposted(shown_count: int, layout: Sequence[Sequence[Embed]]) -> list[Embed]:
    """The embeds of the layout's messages that are not posted yet, in order."""
    return [embed for message in layout[shown_count:] for embed in message]


def bucket_allows_from(slots: int | None, resets_at: float | None) -> float:
    """When a bucket takes its next request: at once (``-inf``), unless it is spent (``slots`` 0); then
    when it resets."""
    return resets_at if slots == 0 and resets_at is not None else float("-inf")


@dataclass(frozen=True, slots=True)
class ChangeFor(Generic[Key]):
    """A change the verdict of debate ``key`` waits for.

    ``final``: the verdict is complete (this change brings it to its last form); ``last_changed``: when
    that verdict was last changed; ``not_before``: when the message may change again (``EDIT_INTERVAL_S``
    after it last did).
    """

    key: Key
    change: PartChange
    final: bool
    last_changed: float
    not_before: float = float("-inf")


def plan_changes(
    pending: Sequence[ChangeFor[Key]],
    *,
    now: float,
    last_edit: float,
    edits_from: float,
    deletes_from: float,
) -> ChangeFor[Key] | Wait:
    """Which verdict to change now in a channel several may stream into, or when the next change is
    allowed.

    ``last_edit``: when the channel's previous edit was answered; ``edits_from`` / ``deletes_from``: when
    its edit / delete bucket takes the next request (:func:`bucket_allows_from`). Drafts are edited
    ``EDIT_INTERVAL_S`` apart, taking turns (the one changed least recently first); a complete verdict is
    edited as soon as its message and the bucket allow. Deletions go first, then complete verdicts.
    """

    def allowed_from(waiting: ChangeFor[Key]) -> float:
        if isinstance(waiting.change, DeletePart):
            return deletes_from
        paced = float("-inf") if waiting.final else last_edit + EDIT_INTERVAL_S
        return max(edits_from, waiting.not_before, paced)

    due = [waiting for waiting in pending if now >= allowed_from(waiting)]
    if due:
        return min(
            due,
            key=lambda waiting: (
                isinstance(waiting.change, EditPart),
                not waiting.final,
                waiting.last_changed,
            ),
        )
    return Wait(hold_until=min(map(allowed_from, pending))) if pending else Wait()
