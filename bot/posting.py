"""Getting a debate onto Discord: the throttled status line and the thread poster."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import discord

from bot.core.personas import Persona
from bot.core.render import Embed, pack_messages, status_content
from bot.errors import needs_permission

NO_PINGS = discord.AllowedMentions.none()


class StatusLine:
    """The debate's status message (the interaction's original response), edited at most once a second.

    Intermediate states may be skipped when newer ones arrive; the final state is always shown.
    """

    def __init__(
        self,
        interaction: discord.Interaction[discord.Client],
        question: str,
        panel: Sequence[Persona],
        *,
        min_interval_s: float = 1.0,
    ) -> None:
        self._interaction = interaction
        self._question = question
        self._panel = panel
        self._min_interval_s = min_interval_s
        self._loop = asyncio.get_running_loop()
        self._last_edit = -min_interval_s
        self._shown: str | None = None
        self._wanted: str | None = None
        self._flusher: asyncio.Task[None] | None = None

    async def _edit(self, state: str) -> discord.InteractionMessage:
        message = await self._interaction.edit_original_response(
            content=status_content(self._question, self._panel, state), allowed_mentions=NO_PINGS
        )
        self._shown, self._last_edit = state, self._loop.time()
        return message

    async def show(self, state: str) -> discord.InteractionMessage:
        """Show ``state`` now and return the status message (the first edit of a debate)."""
        self._wanted = state
        return await self._edit(state)

    def set(self, state: str) -> None:
        """Show ``state`` as soon as the rate allows, in the background."""
        self._wanted = state
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="status-line")

    async def _flush(self) -> None:
        while self._wanted is not None and self._wanted != self._shown:
            await asyncio.sleep(max(0.0, self._last_edit + self._min_interval_s - self._loop.time()))
            await self._edit(self._wanted)

    async def finish(self, state: str) -> None:
        """Show the final ``state`` (after any edit in flight) and stop."""
        self._wanted = state
        if self._flusher is not None and not self._flusher.done():
            with contextlib.suppress(discord.HTTPException):
                await self._flusher
        if self._shown != state:
            await asyncio.sleep(max(0.0, self._last_edit + self._min_interval_s - self._loop.time()))
            await self._edit(state)


class ThreadPoster:
    """Posts embeds into the debate's thread, packed into as few messages as Discord's limits allow."""

    def __init__(self, channel: discord.abc.Messageable) -> None:
        self._channel = channel

    async def post(self, embeds: Sequence[Embed]) -> list[discord.Message]:
        sent = []
        for group in pack_messages(embeds):
            async with needs_permission("Send Messages in Threads", "post in the debate thread"):
                sent.append(
                    await self._channel.send(
                        embeds=[discord.Embed.from_dict(dict(embed)) for embed in group],
                        allowed_mentions=NO_PINGS,
                    )
                )
        return sent
