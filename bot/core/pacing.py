"""When to post what into a debate's thread, given Discord's per-channel message bucket.

A thread allows a few messages per window (5 per 5 s on Discord). Posting every persona on its own
works for small panels, but a ten-persona debate would then stall for the window to reset. The planner
posts each persona as soon as it is ready while slots are plentiful, always keeps the last slot for the
verdict, and batches personas into one message when slots run short. It never reorders anything: it
always sends a prefix of what is ready, and a persona's parts stay together and in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
