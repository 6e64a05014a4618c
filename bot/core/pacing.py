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
