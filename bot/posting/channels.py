"""One sender per channel, shared by every debate posting there.

Debates hand their messages to a :class:`DebateQueue` as results land; the channel's
:class:`ChannelSender` decides, across every debate in that channel, what to post next within the
channel's message bucket (:func:`bot.core.pacing.plan_channel`), posts one message at a time and knows
which debate each accepted message belongs to. A debate's verdict is shown while it is written: posted
with its first words in its turn, then edited as it grows (:mod:`bot.core.pacing` paces the edits of every
verdict streaming into the channel together). A debate is finished on Discord when its queue is
:meth:`~DebateQueue.delivered`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import discord

from bot.core.pacing import (
    EDIT_INTERVAL_S,
    FIRST_DRAFT_AFTER_S,
    Backlog,
    ChangeFor,
    EditPart,
    PartChange,
    SendFor,
    bucket_allows_from,
    part_change,
    plan_changes,
    plan_channel,
    unposted,
)
from bot.core.render import Embed, pack_messages
from bot.core.translation import N_
from bot.errors import needs_permission
from bot.metrics import shard_context
from bot.ratelimits import JSON, MessageRequest, RateLimits

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
DEFAULT_MESSAGE_SLOTS = 5
"""Discord's per-channel message bucket, assumed for a channel until a response describes it."""
IDLE_WAIT_S = 3600.0


class PostingStopped(Exception):
    """The channel's sender stopped (the bot is closing) before everything was posted."""


@dataclass
class PostedPart:
    """One posted message of a debate's verdict: its id and the embeds it shows now."""

    message_id: int
    shown: list[Embed]
    changed_at: float
    controls: bool = False
    """Whether it shows the verdict's controls (only the final verdict's last message does)."""


class DebateQueue:
    """One debate's messages for its channel, in the order they must appear.

    Personas are added as they land; then the verdict, shown while it is written (:meth:`draft_verdict`,
    each time with all of it so far) and last as it stands (:meth:`add_verdict`, with the controls its
    last message shows: posted with it, or added by that message's final edit) — or :meth:`close` when
    the debate ends without one, optionally with a note that goes after everything queued.
    :meth:`delivered` waits until all of it has been accepted by Discord, the verdict's last edit
    included, and raises what stopped it from being posted.
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
        self._verdict: list[Embed] | None = None
        """The newest verdict embeds (a draft until :meth:`add_verdict`); ``None`` before the first draft,
        and once the debate was closed without its verdict (what Discord shows of a draft stays)."""
        self._draft_since: float | None = None
        """When the first draft of the verdict came (it is shown :data:`FIRST_DRAFT_AFTER_S` later)."""
        self._controls: discord.ui.View | None = None
        """What the final verdict's last message shows under its embeds (buttons), if anything."""
        self._lead: list[Embed] = []
        """Personas that went out in the verdict's first message, ahead of it."""
        self._parts: list[PostedPart] = []
        self.last_changed = float("-inf")
        """When one of the verdict's messages was last edited or deleted (edits take turns by it)."""
        self._sender: ChannelSender | None = None
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- the debate's side --------------------------------------------------------------------------

    def add_persona(self, embeds: Sequence[Embed]) -> None:
        self._mark_ready()
        self._ready.extend(embeds)
        self._awaiting = max(0, self._awaiting - 1)
        self._wake_sender()

    def draft_verdict(self, embeds: Sequence[Embed]) -> None:
        """The verdict as written so far, all of it: posted in its turn, then edited as it changes."""
        if self._verdict_pending:
            if self._draft_since is None:
                self._draft_since = asyncio.get_running_loop().time()
            self._set_verdict(embeds)

    def add_verdict(self, embeds: Sequence[Embed], controls: discord.ui.View | None = None) -> None:
        """The last thing to post (empty when there is no verdict); nothing may be added after it. A draft
        already shown is edited to it, continued in further messages or shortened as it needs. ``controls``
        go on its last message."""
        self._controls = controls if embeds else None
        self._set_verdict(embeds)
        self._verdict_pending = False
        self._wake_sender()

    def close(self, note: str | None = None) -> None:
        """No more answers will come: post what is queued, then ``note`` if given. A verdict still being
        written stays as Discord shows it."""
        if self._verdict_pending:
            self._verdict = None
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

    def _set_verdict(self, embeds: Sequence[Embed]) -> None:
        self._mark_ready()
        self._verdict = list(embeds)
        self._awaiting = 0
        self._wake_sender()

    def _mark_ready(self) -> None:
        """Note when what is ready began to wait, if nothing was waiting before."""
        if not self._unposted():
            self._ready_since = asyncio.get_running_loop().time()

    def _wake_sender(self) -> None:
        if self._sender is not None:
            self._sender.wake()

    def _layout(self) -> list[list[Embed]]:
        """The verdict's messages as they should read now (after its first one was posted)."""
        return pack_messages([*self._lead, *(self._verdict or [])])

    def draft_shown_from(self) -> float | None:
        """While the verdict's first draft waits to be shown, when it may be; else None."""
        if not self._verdict_pending or self._parts or self._draft_since is None:
            return None
        return self._draft_since + FIRST_DRAFT_AFTER_S

    def _draft_held(self) -> bool:
        shown_from = self.draft_shown_from()
        return shown_from is not None and asyncio.get_running_loop().time() < shown_from

    def _unposted(self) -> list[Embed]:
        """What waits for a message: ready personas and the verdict, or the verdict's further messages."""
        if not self._parts:
            return [*self._ready] if self._draft_held() else [*self._ready, *(self._verdict or [])]
        return [] if self._verdict is None else unposted(len(self._parts), self._layout())

    def _part_change(self) -> PartChange | None:
        """The next edit or deletion that brings the verdict's posted messages up to date, the controls of
        the final verdict's last message included."""
        if not self._parts or self._verdict is None:
            return None
        layout = self._layout()
        change = part_change([part.shown for part in self._parts], layout)
        if change is None and self._awaits_controls(layout):
            return EditPart(len(layout) - 1, layout[-1])
        return change

    def _awaits_controls(self, layout: list[list[Embed]]) -> bool:
        """Whether the final verdict's last message is posted, up to date but for its controls."""
        return (
            self._controls is not None
            and not self._verdict_pending
            and len(self._parts) == len(layout)
            and not self._parts[-1].controls
        )

    def controls_for(self, change: PartChange) -> discord.ui.View | None:
        """The controls an edit must show: those of the final verdict, on its last message."""
        if self._controls is None or self._verdict_pending or not isinstance(change, EditPart):
            return None
        return self._controls if change.index == len(self._layout()) - 1 else None

    def controls_with(self, sent: Sequence[Embed]) -> discord.ui.View | None:
        """The controls a message of ``sent`` embeds must show: those of the final verdict when it is the
        verdict's last message."""
        if self._controls is None or self._verdict_pending or self._verdict is None:
            return None
        if not self._parts:
            if len(sent) <= len(self._ready):
                return None  # personas only
            layout = pack_messages([*sent[: len(self._ready)], *self._verdict])
            last = len(layout) == 1
        else:
            layout = self._layout()
            last = len(self._parts) + 1 == len(layout)
        return self._controls if last and list(sent) == layout[-1] else None

    @property
    def attached(self) -> bool:
        """Whether a channel's sender posts this queue (it has a place to go)."""
        return self._sender is not None

    @property
    def finished(self) -> bool:
        """Whether nothing is left to post or edit now or later."""
        return self._done.done() or (
            not self._verdict_pending
            and self._awaiting == 0
            and self._note is None
            and not self._ready
            and not self._unposted()
            and self._part_change() is None
        )

    def backlog(self) -> Backlog[DebateQueue]:
        return Backlog(
            key=self,
            ready=tuple(self._unposted()),
            awaiting=self._awaiting,
            verdict_pending=self._verdict_pending and (self._verdict is None or self._draft_held()),
            ready_since=self._ready_since,
            note=self._note is not None,
        )

    def _posted(self, decision: SendFor[DebateQueue], message_id: int, *, controls: bool = False) -> None:
        now = asyncio.get_running_loop().time()
        if decision.note:
            self._note = None
            return
        sent = decision.embeds
        if not self._parts and len(sent) <= len(self._ready):
            del self._ready[: len(sent)]  # personas only
        else:
            if not self._parts:  # the verdict's first message, after every persona still waiting
                self._lead, self._ready = list(sent[: len(self._ready)]), []
            self._parts.append(PostedPart(message_id, list(sent), now, controls))
        self._ready_since = now

    def _changed(self, change: PartChange, *, controls: bool = False) -> None:
        now = asyncio.get_running_loop().time()
        self.last_changed = now
        if isinstance(change, EditPart):
            part = self._parts[change.index]
            part.shown, part.changed_at = change.embeds, now
            part.controls = part.controls or controls
        else:
            del self._parts[change.index]

    def _end(self, error: BaseException | None) -> None:
        if self._done.done():
            return
        if error is None:
            self._done.set_result(None)
        else:
            self._done.set_exception(error)
            self._done.exception()  # retrieved here: the debate may already have stopped waiting


class ChannelSender:
    """Posts the messages of every debate in one channel, one request at a time: messages within the
    channel's message bucket, the edits of streaming verdicts within its edit bucket."""

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
        self._last_edit = float("-inf")
        # Shared by debates of any language, it starts with a context of its own rather than that of the
        # debate that happened to create it: it posts what the debates rendered, and renders no words, and
        # its log lines are no debate's. Only the channel's shard goes with it, for the metrics.
        self._task = asyncio.create_task(
            self._run(), name=f"channel-sender-{channel_id}", context=shard_context()
        )
        self._finishing: set[asyncio.Task[Any]] = set()

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
        """Post the next message, or make the next edit, if it is time; return how long to wait before
        deciding again."""
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
        change = plan_changes(
            self._pending_changes(),
            now=now,
            last_edit=self._last_edit,
            edits_from=self._bucket_allows_from(MessageRequest.EDIT),
            deletes_from=self._bucket_allows_from(MessageRequest.DELETE),
        )
        if isinstance(change, ChangeFor):
            await self._change(change.key, change.change)
            return None
        resets_at = self._limits.resets_at(self.channel_id)
        drafts_due = [queue.draft_shown_from() for queue in self._queues]
        wake_at = [
            at
            for at in (decision.hold_until, change.hold_until, resets_at, *drafts_due)
            if at is not None and at > now
        ]
        return min(wake_at) - now + 0.01 if wake_at else IDLE_WAIT_S

    def _pending_changes(self) -> list[ChangeFor[DebateQueue]]:
        pending: list[ChangeFor[DebateQueue]] = []
        for queue in self._queues:
            change = queue._part_change()
            if change is not None:
                not_before = queue._parts[change.index].changed_at + EDIT_INTERVAL_S
                final = not queue._verdict_pending
                pending.append(ChangeFor(queue, change, final, queue.last_changed, not_before))
        return pending

    def _bucket_allows_from(self, kind: MessageRequest) -> float:
        return bucket_allows_from(
            self._limits.slots(self.channel_id, kind), self._limits.resets_at(self.channel_id, kind)
        )

    async def _request(
        self,
        kind: MessageRequest,
        request: Callable[[], Coroutine[Any, Any, Any]],
        message_id: int | None = None,
    ) -> tuple[asyncio.Task[Any], JSON | None]:
        """Start ``request()`` in its global slot and return once Discord accepted it (with what Discord
        answered) or it ended, well or badly.

        That may be before discord.py returns: after taking a bucket's last slot it sleeps out the window
        before returning, and that sleep must not hold up the channel; it finishes in the background.
        """
        accepted = self._limits.next_accepted(self.channel_id, kind, message_id)
        async with self._limits.global_slot():
            task = asyncio.create_task(request())
        task.add_done_callback(lambda _: _set_done(accepted))
        body = await accepted
        if not task.done():
            self._finish_in_background(task)
        return task, body

    async def _send(self, decision: SendFor[DebateQueue]) -> None:
        """Post one message and return once Discord accepted it."""
        queue = decision.key
        content = queue._note if decision.note else None
        embeds = [discord.Embed.from_dict(dict(embed)) for embed in decision.embeds]
        replying_to = queue.replying_to
        controls = None if decision.note else queue.controls_with(decision.embeds)
        extra: dict[str, Any] = {} if controls is None else {"view": controls}

        def send() -> Coroutine[Any, Any, discord.Message]:
            if replying_to is None:
                return self._channel.send(content=content, embeds=embeds, allowed_mentions=NO_PINGS, **extra)
            reference = discord.MessageReference(
                message_id=replying_to, channel_id=self.channel_id, fail_if_not_exists=False
            )
            return self._channel.send(
                content=content, embeds=embeds, reference=reference, allowed_mentions=NO_PINGS, **extra
            )

        sending, body = await self._request(MessageRequest.SEND, send)
        if not sending.done() and "id" not in (body or {}):
            await asyncio.wait({sending})  # not seen so far: the trace reads the body of every accepted post
        if sending.done():
            try:
                async with needs_permission(queue.permission, N_("post the debate's answers")):
                    message_id = sending.result().id
            except Exception as error:  # that debate stops posting; the others in the channel go on
                self._stop_posting(queue, error)
                return
        else:
            message_id = int((body or {})["id"])
        if self._limits.slots(self.channel_id) is None:
            self._sent_before_known += 1
        queue._posted(decision, message_id, controls=controls is not None)

    async def _change(self, queue: DebateQueue, change: PartChange) -> None:
        """Edit or delete one message of a debate's verdict and return once Discord accepted it."""
        message_id = queue._parts[change.index].message_id
        message = self._channel.get_partial_message(message_id)
        controls = queue.controls_for(change)
        if isinstance(change, EditPart):
            embeds = [discord.Embed.from_dict(dict(embed)) for embed in change.embeds]
            extra: dict[str, Any] = {} if controls is None else {"view": controls}
            task, _ = await self._request(
                MessageRequest.EDIT,
                lambda: message.edit(embeds=embeds, allowed_mentions=NO_PINGS, **extra),
                message_id,
            )
            self._last_edit = asyncio.get_running_loop().time()
        else:
            task, _ = await self._request(MessageRequest.DELETE, message.delete, message_id)
        if task.done():
            try:
                async with needs_permission(queue.permission, N_("show the verdict as it is written")):
                    task.result()
            except discord.NotFound as error:
                if isinstance(change, EditPart):
                    self._stop_posting(queue, error)
                    return
                # a message deleted already is what the deletion wanted
            except Exception as error:
                self._stop_posting(queue, error)
                return
        queue._changed(change, controls=controls is not None)

    def _stop_posting(self, queue: DebateQueue, error: BaseException) -> None:
        """That debate stops posting; the others in the channel go on."""
        log.warning("posting to channel %s failed: %r", self.channel_id, error)
        queue._end(error)
        self._queues.remove(queue)

    def _finish_in_background(self, task: asyncio.Task[Any]) -> None:
        """Keep an accepted request alive while discord.py sleeps out the bucket, then forget it."""
        self._finishing.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._finishing.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                log.warning("an accepted request ended badly: %r", finished.exception())

        task.add_done_callback(done)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _set_done(future: asyncio.Future[JSON | None]) -> None:
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
