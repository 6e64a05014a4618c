"""Getting a debate onto Discord: the throttled status line, and the paced poster for its thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import discord

from bot.core.pacing import Send, plan
from bot.core.personas import Persona
from bot.core.render import Embed, status_content
from bot.errors import needs_permission
from bot.ratelimits import RateLimits, patiently

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
DEFAULT_MESSAGE_SLOTS = 5
"""Discord's per-channel message bucket, assumed for a new thread until a response describes it."""


class StatusLine:
    """The debate's status message (the interaction's original response).

    The first state shows at once; progress shows at most every ``progress_interval_s`` (intermediate
    states may be skipped, and a quick debate shows none); the final state always shows, never sooner
    than ``min_interval_s`` after the previous edit.
    """

    def __init__(
        self,
        interaction: discord.Interaction[discord.Client],
        question: str,
        panel: Sequence[Persona],
        *,
        min_interval_s: float = 1.0,
        progress_interval_s: float = 2.0,
    ) -> None:
        self._interaction = interaction
        self._by_channel: discord.PartialMessage | None = None
        self.message_id: int | None = None
        self._question = question
        self._panel = panel
        self._min_interval_s = min_interval_s
        self._progress_interval_s = progress_interval_s
        self._loop = asyncio.get_running_loop()
        self._last_edit = 0.0
        self._shown: str | None = None
        self._wanted: str | None = None
        self._editing = False
        self._flusher: asyncio.Task[None] | None = None

    async def _edit(self, state: str) -> discord.InteractionMessage | None:
        """Show ``state``; returns the message when the interaction's token could still edit it."""
        content = status_content(self._question, self._panel, state)
        message = None
        self._editing = True
        try:
            if self._by_channel is None:
                try:
                    message = await patiently(
                        lambda: self._interaction.edit_original_response(
                            content=content, allowed_mentions=NO_PINGS
                        )
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
                by_channel = self._by_channel
                await patiently(lambda: by_channel.edit(content=content, allowed_mentions=NO_PINGS))
        finally:
            self._editing = False
        self._shown, self._last_edit = state, self._loop.time()
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
        """Show the final ``state`` and stop editing."""
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
        if self._shown != state:
            await asyncio.sleep(max(0.0, self._last_edit + self._min_interval_s - self._loop.time()))
            await self._edit(state)


def _token_expired(error: discord.HTTPException) -> bool:
    """Whether Discord refused the interaction's webhook token (expired after 15 minutes, or unknown)."""
    return (error.status, error.code) in {(401, 50027), (404, 10015)}


class DebatePoster:
    """Posts a debate into its thread as results land, paced by the thread's message bucket.

    Personas and the verdict are handed over as they are ready (before the thread even exists); one
    sender task posts them, as :func:`bot.core.pacing.plan` decides, one message at a time and in order.
    """

    def __init__(
        self, limits: RateLimits, *, personas: int, permission: str = "Send Messages in Threads"
    ) -> None:
        self._limits = limits
        self.permission = permission
        self._awaiting = personas
        self._verdict_pending = True
        self._closed = False
        self._ready: list[Embed] = []
        self._ready_since = 0.0
        self._sent_before_known = 0
        self._channel: discord.abc.Messageable | None = None
        self._channel_id = 0
        self._wake = asyncio.Event()
        self.messages = 0
        self._sender = asyncio.create_task(self._run(), name="debate-poster")

    def attach(self, channel: discord.abc.Messageable, channel_id: int) -> None:
        """Start posting into ``channel`` (the debate's thread, or the channel itself)."""
        self._channel, self._channel_id = channel, channel_id
        self._wake.set()

    def add_persona(self, embeds: Sequence[Embed]) -> None:
        self._enqueue(embeds)
        self._awaiting -= 1

    def add_verdict(self, embeds: Sequence[Embed]) -> None:
        """The last thing to post (empty when there is no verdict); nothing may be added after it."""
        self._enqueue(embeds)
        self._verdict_pending = False
        self._closed = True

    def _enqueue(self, embeds: Sequence[Embed]) -> None:
        if not self._ready:
            self._ready_since = asyncio.get_running_loop().time()
        self._ready.extend(embeds)
        self._wake.set()

    async def finished(self) -> None:
        """Wait until everything handed over has landed; re-raises what stopped the sender."""
        await self._sender

    async def close(self) -> None:
        """Stop posting (the debate was abandoned) and let go of the thread's bucket."""
        self._sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._sender

    def _slots(self) -> int:
        known = self._limits.slots(self._channel_id)
        return DEFAULT_MESSAGE_SLOTS - self._sent_before_known if known is None else known

    async def _run(self) -> None:
        try:
            while not (self._closed and not self._ready):
                timeout = await self._next_decision()
                if timeout is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout)
                    self._wake.clear()
        finally:
            self._limits.forget(self._channel_id)

    async def _next_decision(self) -> float | None:
        """Post the next message if it is time; return how long to wait before deciding again."""
        loop = asyncio.get_running_loop()
        if self._channel is None:
            return 3600.0
        now = loop.time()
        decision = plan(
            self._ready,
            slots=self._slots(),
            awaiting=self._awaiting,
            verdict_pending=self._verdict_pending,
            ready_since=self._ready_since,
            now=now,
        )
        if isinstance(decision, Send):
            await self._send(decision.embeds)
            del self._ready[: len(decision.embeds)]
            self._ready_since = loop.time()
            return None
        wake_at = [
            at for at in (decision.hold_until, self._limits.resets_at(self._channel_id)) if at and at > now
        ]
        return min(wake_at) - now + 0.01 if wake_at else 3600.0

    async def _send(self, embeds: list[Embed]) -> None:
        """Post one message and return once Discord accepted it.

        That may be before discord.py returns: after taking a bucket's last slot it sleeps out the window
        before returning, and that sleep must not hold up the debate; it finishes in the background.
        """
        assert self._channel is not None
        channel = self._channel
        landing = self._limits.landing(self._channel_id)
        async with self._limits.global_slot():
            sending = asyncio.create_task(
                patiently(
                    lambda: channel.send(
                        embeds=[discord.Embed.from_dict(dict(embed)) for embed in embeds],
                        allowed_mentions=NO_PINGS,
                    )
                )
            )
        sending.add_done_callback(lambda _: _resolve(landing))
        await landing  # the trace saw it accepted, or the request ended (well or badly)
        if sending.done():
            async with needs_permission(self.permission, "post the debate's answers"):
                sending.result()
        else:
            _let_finish(sending)
        if self._limits.slots(self._channel_id) is None:
            self._sent_before_known += 1
        self.messages += 1


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_finishing: set[asyncio.Task[discord.Message]] = set()


def _let_finish(task: asyncio.Task[discord.Message]) -> None:
    """Keep a landed send's task alive while discord.py sleeps out the bucket, then forget it."""
    _finishing.add(task)

    def done(finished: asyncio.Task[discord.Message]) -> None:
        _finishing.discard(finished)
        if not finished.cancelled() and finished.exception() is not None:
            log.warning("a landed message's request ended badly: %r", finished.exception())

    task.add_done_callback(done)
