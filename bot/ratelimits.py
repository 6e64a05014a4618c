"""What Discord's rate-limit headers say, read from every response through an aiohttp trace.

discord.py waits out exhausted buckets and 429s by itself, silently: a sender that wants to batch
instead of waiting must know the bucket first. The headers are read through ``Client(http_trace=…)``,
not through discord.py's internals, and the trace also tells when Discord accepted a message request
and what it answered (the message posted, whose id later edits need): discord.py returns from the request
that used a bucket's last slot only after sleeping out the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp

from bot.core.throttles import GlobalPacer, LocalPacer

log = logging.getLogger(__name__)

JSON = dict[str, Any]
_CHANNEL_MESSAGES = re.compile(r"/channels/(\d+)/messages$")
_CHANNEL_MESSAGE = re.compile(r"/channels/(\d+)/messages/(\d+)$")


class MessageRequest(enum.Enum):
    """The requests on a channel's messages whose buckets a sender paces; each has its own bucket."""

    SEND = "POST"
    EDIT = "PATCH"
    DELETE = "DELETE"


_RequestKey = tuple[int, MessageRequest, int | None]
"""A request on a channel's messages: its channel, its kind, and for an edit or a deletion its message."""


def _message_request(method: str, path: str) -> _RequestKey | None:
    """The channel, kind and message (for an edit or a deletion) of a request on a channel's messages, or
    ``None`` for any other request."""
    if method == "POST" and (match := _CHANNEL_MESSAGES.search(path)) is not None:
        return int(match.group(1)), MessageRequest.SEND, None
    if method in ("PATCH", "DELETE") and (match := _CHANNEL_MESSAGE.search(path)) is not None:
        return int(match.group(1)), MessageRequest(method), int(match.group(2))
    return None


GLOBAL_RATE_PER_S = 40.0
"""Requests per second Parley allows itself on routes under Discord's global limit (50/s per token): this
process alone, or every process together when they share Redis (``REDIS_URL``)."""
FORGET_AFTER_S = 60.0
"""A bucket is forgotten this long after its window ended: it says nothing any more (bounded memory)."""


@dataclass
class Bucket:
    """One channel's message bucket as the last response described it."""

    limit: int
    remaining: int
    resets_at: float


class RateLimits:
    """Message buckets per channel (sends, edits and deletions apart), 429s seen, waits for accepted
    requests, and a pacer for the global limit.

    :meth:`next_accepted` waits for the next request of a kind Discord accepts in a channel: each channel
    has one sender, with at most one request in flight, so the next accepted request is that one.
    """

    def __init__(
        self, global_pacer: GlobalPacer | None = None, on_rate_limited: Callable[[], None] | None = None
    ) -> None:
        """``global_pacer``: spaces requests under the global limit; this process alone at
        :data:`GLOBAL_RATE_PER_S` unless given one shared by every process using the token.
        ``on_rate_limited``: called for every 429 Discord answers, on any route."""
        self._on_rate_limited = on_rate_limited
        self.trace_config = aiohttp.TraceConfig()
        self.trace_config.on_request_end.append(self._on_request_end)
        self.trace_config.on_response_chunk_received.append(self._on_response_body)
        self.rate_limited = 0
        self._buckets: dict[tuple[int, MessageRequest], Bucket] = {}
        self._accept_waiters: dict[
            tuple[int, MessageRequest, int | None], list[asyncio.Future[JSON | None]]
        ] = {}
        self._global_pacer = global_pacer or LocalPacer(GLOBAL_RATE_PER_S)

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    async def _on_request_end(
        self,
        _session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        if params.response.status == 429 and self._on_rate_limited is not None:
            self._on_rate_limited()
        request = _message_request(params.method, params.url.path)
        if request is None:
            return
        channel_id, kind, _message_id = request
        response, now = params.response, self._now()
        headers = response.headers
        if response.status == 429:
            self.rate_limited += 1
            log.warning(
                "429 on channel %s messages (%s, scope %s)",
                channel_id,
                kind.value,
                headers.get("X-RateLimit-Scope"),
            )
        if "X-RateLimit-Remaining" in headers and "X-RateLimit-Limit" in headers:
            reset_after = float(headers.get("X-RateLimit-Reset-After") or headers.get("Retry-After") or 1.0)
            remaining = 0 if response.status == 429 else int(headers["X-RateLimit-Remaining"])
            self._buckets[channel_id, kind] = Bucket(
                int(headers["X-RateLimit-Limit"]), remaining, now + reset_after
            )
            self._forget_stale(now)
        if 200 <= response.status < 300:
            context.accepted = request  # resolved once its body (the message) has been read

    async def _on_response_body(
        self,
        _session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceResponseChunkReceivedParams,
    ) -> None:
        """The body of an accepted request, read by discord.py before it sleeps out a spent bucket.

        aiohttp sends this signal from ``ClientResponse.read()`` with the whole body, which discord.py
        reads for every response."""
        request = getattr(context, "accepted", None)
        waiters = self._accept_waiters.pop(request, []) if request is not None else []
        if not waiters:
            return
        try:
            body = json.loads(params.chunk) if params.chunk else None
        except ValueError:
            body = None
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(body if isinstance(body, dict) else None)

    def slots(self, channel_id: int, kind: MessageRequest = MessageRequest.SEND) -> int | None:
        """Requests of ``kind`` the channel still takes in this window; ``None`` until a response
        described its bucket."""
        bucket = self._buckets.get((channel_id, kind))
        if bucket is None:
            return None
        return bucket.limit if self._now() >= bucket.resets_at else bucket.remaining

    def limit(self, channel_id: int, kind: MessageRequest = MessageRequest.SEND) -> int | None:
        """The size of the channel's bucket for ``kind`` when fresh; ``None`` until one was described."""
        bucket = self._buckets.get((channel_id, kind))
        return None if bucket is None else bucket.limit

    def _forget_stale(self, now: float) -> None:
        stale = [key for key, bucket in self._buckets.items() if bucket.resets_at + FORGET_AFTER_S < now]
        for key in stale:
            del self._buckets[key]

    def resets_at(self, channel_id: int, kind: MessageRequest = MessageRequest.SEND) -> float | None:
        bucket = self._buckets.get((channel_id, kind))
        return None if bucket is None else bucket.resets_at

    def next_accepted(
        self, channel_id: int, kind: MessageRequest = MessageRequest.SEND, message_id: int | None = None
    ) -> asyncio.Future[JSON | None]:
        """Resolves when the next request of ``kind`` in ``channel_id`` (on ``message_id``, for an edit or
        a deletion) has been accepted, with the response's JSON object (the message, for a send or an
        edit) or ``None`` when it has none."""
        future: asyncio.Future[JSON | None] = asyncio.get_running_loop().create_future()
        self._accept_waiters.setdefault((channel_id, kind, message_id), []).append(future)
        return future

    def stop_waiting_for(self, channel_id: int) -> None:
        """Stop waiting for requests to be accepted in ``channel_id`` (its sender stopped)."""
        for key in [key for key in self._accept_waiters if key[0] == channel_id]:
            for waiter in self._accept_waiters.pop(key):
                waiter.cancel()

    @contextlib.asynccontextmanager
    async def global_slot(self) -> AsyncIterator[None]:
        """Wait for this request's turn under Discord's global limit (see :class:`GlobalPacer`); the
        request leaves inside."""
        await self._global_pacer.depart()
        yield
