"""One sender per channel, shared by every debate posting there.

Debates hand their messages to a :class:`DebateQueue` as results land; the channel's
:class:`ChannelSender` decides, across every debate in that channel, what to post next within the
channel's message bucket (:func:`bot.core.pacing.plan_channel`), posts one message at a time and knows
which debate each accepted message belongs to. A debate is finished on Discord when its queue is
:meth:`~DebateQueue.delivered`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import discord

from bot.core.pacing import Backlog, SendFor, plan_channel
from bot.core.render import Embed
from bot.errors import needs_permission
from bot.ratelimits import RateLimits

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
DEFAULT_MESSAGE_SLOTS = 5
"""Discord's per-channel message bucket, assumed for a channel until a response describes it."""
IDLE_WAIT_S = 3600.0


class PostingStopped(Exception):
    """The channel's sender stopped (the bot is closing) before everything was posted."""


class DebateQueue:
    """One debate's messages for its channel, in the order they must appear.

    Personas are added as they land and the verdict last (or :meth:`close` when the debate ends without
    one, optionally with a note that goes after everything queued). :meth:`delivered` waits until all of
    it has been accepted by Discord, and raises what stopped it from being posted.
    """

    def __init__(self, personas: int, permission: str) -> None:
        self.permission = permission
        """The permission a refusal to post names (``Send Messages in Threads`` or ``Send Messages``)."""
        self.replying_to: int | None = None
        """In a channel other debates may share, the debate's status message, which each of its
        messages replies to: members see which debate an answer belongs to."""
        self._awaiting = personas
        self._verdict_pending = True
        self._ready: list[Embed] = []
        self._ready_since = 0.0
        self._note: str | None = None
        self._sender: ChannelSender | None = None
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- the debate's side --------------------------------------------------------------------------

    def add_persona(self, embeds: Sequence[Embed]) -> None:
        self._enqueue(embeds)
        self._awaiting = max(0, self._awaiting - 1)

    def add_verdict(self, embeds: Sequence[Embed]) -> None:
        """The last thing to post (empty when there is no verdict); nothing may be added after it."""
        self._enqueue(embeds)
        self._verdict_pending = False
        self._awaiting = 0
        self._wake_sender()

    def close(self, note: str | None = None) -> None:
        """No more answers will come: post what is queued, then ``note`` if given."""
        self._awaiting = 0
        self._verdict_pending = False
        self._note = note
        self._wake_sender()

    async def delivered(self) -> None:
        """Wait until Discord accepted everything handed over; re-raise what stopped it being posted."""
        await asyncio.shield(self._done)

    def abandon(self) -> None:
        """Post nothing more of this debate (it failed before it had a place to post)."""
        self._ready.clear()
        self._note = None
        self.close()
        self._end(None)

    # -- the sender's side --------------------------------------------------------------------------

    def _enqueue(self, embeds: Sequence[Embed]) -> None:
        if not self._ready:
            self._ready_since = asyncio.get_running_loop().time()
        self._ready.extend(embeds)
        self._wake_sender()

    def _wake_sender(self) -> None:
        if self._sender is not None:
            self._sender.wake()

    @property
    def attached(self) -> bool:
        """Whether a channel's sender posts this queue (it has a place to go)."""
        return self._sender is not None

    @property
    def finished(self) -> bool:
        """Whether nothing is left to post now or later."""
        return self._done.done() or (
            not self._verdict_pending and self._awaiting == 0 and not self._ready and self._note is None
        )

    def backlog(self) -> Backlog[DebateQueue]:
        return Backlog(
            key=self,
            ready=tuple(self._ready),
            awaiting=self._awaiting,
            verdict_pending=self._verdict_pending,
            ready_since=self._ready_since,
            note=self._note is not None,
        )

    def _posted(self, decision: SendFor[DebateQueue]) -> None:
        if decision.note:
            self._note = None
        else:
            del self._ready[: len(decision.embeds)]
            self._ready_since = asyncio.get_running_loop().time()

    def _end(self, error: BaseException | None) -> None:
        if self._done.done():
            return
        if error is None:
            self._done.set_result(None)
        else:
            self._done.set_exception(error)
            self._done.exception()  # retrieved here: the debate may already have stopped waiting


class ChannelSender:
    """Posts the messages of every debate in one channel, one at a time, within its message bucket."""

    def __init__(
        self,
        client: discord.Client,
        channel_id: int,
        limits: RateLimits,
        senders: ChannelSenders,
    ) -> None:
        self.channel_id = channel_id
        self._channel = client.get_partial_messageable(channel_id)
        self._limits = limits
        self._senders = senders
        self._queues: list[DebateQueue] = []
        self._wake = asyncio.Event()
        self._sent_before_known = 0
        self._task = asyncio.create_task(self._run(), name=f"channel-sender-{channel_id}")
        self._finishing: set[asyncio.Task[discord.Message]] = set()

    def join(self, queue: DebateQueue) -> None:
        queue._sender = self
        self._queues.append(queue)
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def _slots(self) -> int:
        known = self._limits.slots(self.channel_id)
        return DEFAULT_MESSAGE_SLOTS - self._sent_before_known if known is None else known

    async def _run(self) -> None:
        stopped: BaseException = PostingStopped(f"posting to channel {self.channel_id} stopped")
        try:
            while self._queues:
                wait = await self._post_next()
                if wait is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wait)
                self._wake.clear()
        except Exception as error:
            log.exception("the sender of channel %s failed", self.channel_id)
            stopped = error
        finally:
            self._limits.stop_waiting_for(self.channel_id)
            for queue in self._queues:
                queue._end(stopped)
            self._senders._forget(self)

    async def _post_next(self) -> float | None:
        """Post the next message if it is time; return how long to wait before deciding again."""
        for queue in [queue for queue in self._queues if queue.finished]:
            self._queues.remove(queue)
            queue._end(None)
        if not self._queues:
            return None
        loop = asyncio.get_running_loop()
        now = loop.time()
        decision = plan_channel(
            [queue.backlog() for queue in self._queues],
            slots=self._slots(),
            limit=self._limits.limit(self.channel_id) or DEFAULT_MESSAGE_SLOTS,
            now=now,
        )
        if isinstance(decision, SendFor):
            await self._send(decision)
            return None
        resets_at = self._limits.resets_at(self.channel_id)
        wake_at = [at for at in (decision.hold_until, resets_at) if at is not None and at > now]
        return min(wake_at) - now + 0.01 if wake_at else IDLE_WAIT_S

    async def _send(self, decision: SendFor[DebateQueue]) -> None:
        """Post one message and return once Discord accepted it.

        That may be before discord.py returns: after taking a bucket's last slot it sleeps out the window
        before returning, and that sleep must not hold up the debates; it finishes in the background.
        """
        queue = decision.key
        content = queue._note if decision.note else None
        embeds = [discord.Embed.from_dict(dict(embed)) for embed in decision.embeds]
        accepted = self._limits.next_accepted(self.channel_id)
        async with self._limits.global_slot():
            if queue.replying_to is None:
                sent = self._channel.send(content=content, embeds=embeds, allowed_mentions=NO_PINGS)
            else:
                reference = discord.MessageReference(
                    message_id=queue.replying_to, channel_id=self.channel_id, fail_if_not_exists=False
                )
                sent = self._channel.send(
                    content=content, embeds=embeds, reference=reference, allowed_mentions=NO_PINGS
                )
            sending = asyncio.create_task(sent)
        sending.add_done_callback(lambda _: _set_done(accepted))
        await accepted  # the trace saw it accepted, or the request ended (well or badly)
        if sending.done():
            try:
                async with needs_permission(queue.permission, "post the debate's answers"):
                    sending.result()
            except Exception as error:  # that debate stops posting; the others in the channel go on
                log.warning("posting to channel %s failed: %r", self.channel_id, error)
                queue._end(error)
                self._queues.remove(queue)
                return
        else:
            self._finish_in_background(sending)
        if self._limits.slots(self.channel_id) is None:
            self._sent_before_known += 1
        queue._posted(decision)

    def _finish_in_background(self, task: asyncio.Task[discord.Message]) -> None:
        """Keep an accepted message's request alive while discord.py sleeps out the bucket, then forget it."""
        self._finishing.add(task)

        def done(finished: asyncio.Task[discord.Message]) -> None:
            self._finishing.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                log.warning("an accepted message's request ended badly: %r", finished.exception())

        task.add_done_callback(done)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ChannelSenders:
    """The one sender of each channel the bot posts debates in, created on demand, gone when idle."""

    def __init__(self, client: discord.Client, limits: RateLimits) -> None:
        self._client = client
        self._limits = limits
        self._senders: dict[int, ChannelSender] = {}

    def attach(self, queue: DebateQueue, channel_id: int) -> None:
        """Start posting ``queue`` into ``channel_id``, alongside the other debates there."""
        sender = self._senders.get(channel_id)
        if sender is None:
            sender = self._senders[channel_id] = ChannelSender(self._client, channel_id, self._limits, self)
        sender.join(queue)

    async def post_note(self, channel_id: int, note: str, *, permission: str = "Send Messages") -> None:
        """Post a plain message (a debate's closing note) through the channel's sender, in its turn."""
        queue = DebateQueue(0, permission)
        queue.close(note)
        self.attach(queue, channel_id)
        await queue.delivered()

    def _forget(self, sender: ChannelSender) -> None:
        if self._senders.get(sender.channel_id) is sender:
            del self._senders[sender.channel_id]

    async def close(self) -> None:
        """Stop every sender (what is still queued is not posted: debates flush theirs before this)."""
        for sender in list(self._senders.values()):
            await sender.stop()
