"""A debate's status message: the interaction's original response, edited at a measured pace."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import discord

from bot.core.personas import Persona
from bot.core.render import status_content

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()


class StatusLine:
    """The debate's status message (the interaction's original response).

    The first state shows at once; progress shows at most every ``progress_interval_s`` (intermediate
    states may be skipped, and a quick debate shows none); the final state always shows, never sooner
    than ``min_interval_s`` after the previous edit. ``controls`` (a Stop button) show with the first
    state and are removed with the final one. ``kind`` names a continuation's kind in place of ``Debate``.
    """

    def __init__(
        self,
        interaction: discord.Interaction[discord.Client],
        question: str,
        panel: Sequence[Persona],
        *,
        controls: discord.ui.View | None = None,
        kind: str | None = None,
        min_interval_s: float = 1.0,
        progress_interval_s: float = 2.0,
    ) -> None:
        self._interaction = interaction
        self._by_channel: discord.PartialMessage | None = None
        self.message_id: int | None = None
        self._question = question
        self._panel = panel
        self._controls = controls
        self._kind = kind
        self._showing_controls = False
        self._min_interval_s = min_interval_s
        self._progress_interval_s = progress_interval_s
        self._loop = asyncio.get_running_loop()
        self._last_edit = 0.0
        self._shown: str | None = None
        self._wanted: str | None = None
        self._editing = False
        self._flusher: asyncio.Task[None] | None = None

    async def _edit(self, state: str, *, final: bool = False) -> discord.InteractionMessage | None:
        """Show ``state`` (with the controls until it is ``final``); returns the message when the
        interaction's token could still edit it."""
        content = status_content(self._question, self._panel, state, self._kind)
        components: dict[str, Any] = {}
        if final and self._showing_controls:
            components["view"] = None
        elif not final and self._shown is None and self._controls is not None:
            components["view"] = self._controls
        message = None
        self._editing = True
        try:
            if self._by_channel is None:
                try:
                    message = await self._interaction.edit_original_response(
                        content=content, allowed_mentions=NO_PINGS, **components
                    )
                except discord.HTTPException as error:
                    if not _token_expired(error) or self.message_id is None:
                        raise
                    # The interaction's token lives 15 minutes; the bot's own token edits the message after.
                    channel = self._interaction.client.get_partial_messageable(
                        self._interaction.channel_id or 0
                    )
                    self._by_channel = channel.get_partial_message(self.message_id)
            if self._by_channel is not None:
                await self._by_channel.edit(content=content, allowed_mentions=NO_PINGS, **components)
        finally:
            self._editing = False
        self._shown, self._last_edit = state, self._loop.time()
        if "view" in components:
            self._showing_controls = components["view"] is not None
        return message

    async def show(self, state: str) -> discord.InteractionMessage:
        """Show ``state`` now and return the status message (the first edit of a debate)."""
        if self._wanted is None:
            self._wanted = state
        message = await self._edit(state)
        assert message is not None  # the first edit comes right after the deferral, long before expiry
        self.message_id = message.id
        self._start_flusher()
        return message

    def set(self, state: str) -> None:
        """Show ``state`` when the pace allows, in the background."""
        self._wanted = state
        self._start_flusher()

    def _start_flusher(self) -> None:
        if self._shown is not None and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.create_task(self._flush(), name="status-line")

    async def _flush(self) -> None:
        while self._wanted is not None and self._wanted != self._shown:
            await asyncio.sleep(max(0.0, self._last_edit + self._progress_interval_s - self._loop.time()))
            await self._edit(self._wanted)

    async def finish(self, state: str) -> None:
        """Show the final ``state`` without the controls, and stop editing."""
        self._wanted = state
        flusher, self._flusher = self._flusher, None
        if flusher is not None and not flusher.done():
            if self._editing:
                with contextlib.suppress(discord.HTTPException):
                    await flusher
            else:
                flusher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await flusher
        if self._shown != state or self._showing_controls:
            await asyncio.sleep(max(0.0, self._last_edit + self._min_interval_s - self._loop.time()))
            await self._edit(state, final=True)


def _token_expired(error: discord.HTTPException) -> bool:
    """Whether Discord refused the interaction's webhook token (expired after 15 minutes, or unknown)."""
    return (error.status, error.code) in {(401, 50027), (404, 10015)}
