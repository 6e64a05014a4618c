"""The crowd's votes: a member presses a persona's button under a verdict to vote for the most convincing
persona (one vote each, changeable), and the crowd's fields of the verdict follow.

A press is recorded, answered privately, and the verdict's last message refreshed: at most once every
:data:`~bot.core.pacing.EDIT_INTERVAL_S` however many press at once (presses in between are coalesced into
the next refresh), and the last refresh reads the counts when it edits, so it always shows the final ones.
What a refresh shows is rebuilt from the pressed message (its embeds, the last two fields of the last of
which are the crowd's) and the database (the votes, the panel, its final stances and the debate's
language, which the refresh speaks whoever voted), so it works the same after a restart.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import discord

from bot.core.crowd import CROWD_FIELD_COUNT, crowd_fields
from bot.core.pacing import EDIT_INTERVAL_S
from bot.core.records import DebateStanding, NoSuchDebate, Storage
from bot.core.render import EMBED_CHARS_PER_MESSAGE, Embed, safe_inline, shown_size
from bot.core.translation import N_, _, speaking_in
from bot.errors import UserFacingError, send_private
from bot.ratelimits import RateLimits

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
DEBATE_GONE = N_("This debate no longer exists (it was deleted), so it takes no more votes.")
NOT_ON_PANEL = N_("That persona is not on this debate's panel.")


@dataclass(eq=False)
class Refresh:
    """The pending refresh of one verdict message: the message as last pressed, whether it must be
    edited again, and when it last was (event-loop time)."""

    record: int
    message: discord.Message
    last_edit: float
    due: bool = True
    task: asyncio.Task[None] | None = None


class VoteService:
    """Records the crowd's votes and keeps each verdict's crowd fields up to date, within the edit limits."""

    def __init__(
        self, store: Storage, rate_limits: RateLimits, *, edit_interval_s: float = EDIT_INTERVAL_S
    ) -> None:
        self._store = store
        self._rate_limits = rate_limits
        self._interval = edit_interval_s
        self._refreshes: dict[int, Refresh] = {}
        """By message id: the verdict messages being refreshed, or refreshed less than an interval ago."""

    async def vote(self, interaction: discord.Interaction[Any], record: int, position: int) -> None:
        """Record the member's vote for the persona at ``position`` of debate ``record``, tell them
        privately, and refresh the pressed message's crowd fields. Raises :class:`UserFacingError` when
        the debate is gone (or not this server's) or the persona is not on its panel."""
        standing = await self._store.debate_standing(record)
        if standing is None or standing.guild_id != interaction.guild_id:
            raise UserFacingError(_(DEBATE_GONE))
        if not 0 <= position < len(standing.panel):
            raise UserFacingError(_(NOT_ON_PANEL))
        try:
            previous = await self._store.cast_vote(record, interaction.user.id, position)
        except NoSuchDebate:
            raise UserFacingError(_(DEBATE_GONE)) from None
        await send_private(interaction, _vote_answer(standing, previous, position))
        if interaction.message is not None:
            self._refresh(interaction.message, record)

    async def close(self) -> None:
        """Stop refreshing (the bot is closing): the votes are kept, and the next press shows them."""
        tasks = [refresh.task for refresh in self._refreshes.values() if refresh.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        self._refreshes.clear()

    def _refresh(self, message: discord.Message, record: int) -> None:
        """Have ``message`` show the current votes: now, or once its interval since the last edit ends."""
        refresh = self._refreshes.get(message.id)
        if refresh is None:
            refresh = Refresh(record, message, last_edit=self._last_edited(message))
            self._refreshes[message.id] = refresh
        refresh.message, refresh.due = message, True
        if refresh.task is None or refresh.task.done():
            refresh.task = asyncio.create_task(self._refresh_while_due(refresh), name=f"votes-{message.id}")

    def _last_edited(self, message: discord.Message) -> float:
        """When ``message`` last changed, in event-loop time: a refresh after a restart keeps the pace too."""
        changed = message.edited_at or message.created_at
        ago = max(0.0, (datetime.now(UTC) - changed).total_seconds())
        return asyncio.get_running_loop().time() - ago

    async def _refresh_while_due(self, refresh: Refresh) -> None:
        loop = asyncio.get_running_loop()
        while refresh.due:
            wait = refresh.last_edit + self._interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            refresh.due = False  # a press from here on is shown by another edit
            try:
                await self._edit(refresh)
            except Exception as error:  # the votes are kept; the next press refreshes again
                log.warning("could not refresh the votes of message %s: %r", refresh.message.id, error)
            refresh.last_edit = (
                loop.time()
            )  # once Discord answered: the next edit leaves a full interval later
        loop.call_later(self._interval, self._forget, refresh)

    def _forget(self, refresh: Refresh) -> None:
        """Drop a refresh that has nothing left to do (its message's pace no longer matters)."""
        idle = not refresh.due and (refresh.task is None or refresh.task.done())
        if idle and self._refreshes.get(refresh.message.id) is refresh:
            del self._refreshes[refresh.message.id]

    async def _edit(self, refresh: Refresh) -> None:
        """Replace the last two fields of the message's last embed (the crowd's) with ones showing the
        votes as they are now, in the debate's language; every other embed and field is kept."""
        standing = await self._store.debate_standing(refresh.record)
        if standing is None or not refresh.message.embeds:
            return  # deleted meanwhile (or nothing to refresh): the message is left as it is
        counts = await self._store.vote_counts(refresh.record)
        embeds = [cast(Embed, embed.to_dict()) for embed in refresh.message.embeds]
        last = embeds[-1]
        kept = last.get("fields", [])[:-CROWD_FIELD_COUNT]
        rest: Embed = {**last, "fields": kept}
        room = EMBED_CHARS_PER_MESSAGE - sum(shown_size(embed) for embed in [*embeds[:-1], rest])
        with speaking_in(standing.language):
            crowd = crowd_fields(standing.panel, standing.stances, counts, room=room)
        embeds[-1] = {**rest, "fields": [*kept, *crowd]}
        async with self._rate_limits.global_slot():
            edited = await refresh.message.edit(
                embeds=[discord.Embed.from_dict(dict(embed)) for embed in embeds], allowed_mentions=NO_PINGS
            )
        refresh.message = edited


def _vote_answer(standing: DebateStanding, previous: int | None, position: int) -> str:
    """The private answer to a vote: what it is, or what it replaced."""
    chosen = safe_inline(standing.panel[position].label)
    if previous is None or previous == position or not 0 <= previous < len(standing.panel):
        return _("Your vote: **{persona}**. Press another persona to change it.").format(persona=chosen)
    before = safe_inline(standing.panel[previous].label)
    return _("You changed your vote from **{before}** to **{after}**.").format(before=before, after=chosen)
