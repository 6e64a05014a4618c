"""What Discord's rate-limit headers say, read from every response through an aiohttp trace.

discord.py waits out exhausted buckets and 429s by itself, silently: a sender that wants to batch
instead of waiting must know the bucket first. The headers are read through ``Client(http_trace=…)``,
not through discord.py's internals, and the trace also tells when Discord accepted a message: discord.py
returns from the request that used a bucket's last slot only after sleeping out the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import SimpleNamespace

import aiohttp

log = logging.getLogger(__name__)

_CHANNEL_MESSAGES = re.compile(r"/channels/(\d+)/messages$")
GLOBAL_RATE_PER_S = 40.0
"""Requests per second this process allows itself on routes under Discord's global limit (50/s)."""
FORGET_AFTER_S = 60.0
"""A bucket is forgotten this long after its window ended: it says nothing any more (bounded memory)."""


@dataclass
class Bucket:
    """One channel's message bucket as the last response described it."""

    limit: int
    remaining: int
    resets_at: float


class RateLimits:
    """Message buckets per channel, 429s seen, waits for accepted messages, and a pacer for the global
    limit.

    :meth:`next_accepted` waits for the next message Discord accepts in a channel: each channel has one
    sender, with at most one message in flight, so the next accepted message is that one.
    """

    def __init__(self, global_rate_per_s: float = GLOBAL_RATE_PER_S) -> None:
        self.trace_config = aiohttp.TraceConfig()
        self.trace_config.on_request_end.append(self._on_request_end)
        self.rate_limited = 0
        self._buckets: dict[int, Bucket] = {}
        self._accept_waiters: dict[int, list[asyncio.Future[None]]] = {}
        self._interval = 1.0 / global_rate_per_s
        self._last_global = float("-inf")
        self._global_turn = asyncio.Lock()

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    async def _on_request_end(
        self,
        _session: aiohttp.ClientSession,
        _context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        match = _CHANNEL_MESSAGES.search(params.url.path)
        if params.method != "POST" or match is None:
            return
        channel_id, response, now = int(match.group(1)), params.response, self._now()
        headers = response.headers
        if response.status == 429:
            self.rate_limited += 1
            log.warning("429 on channel %s messages (scope %s)", channel_id, headers.get("X-RateLimit-Scope"))
        if "X-RateLimit-Remaining" in headers and "X-RateLimit-Limit" in headers:
            reset_after = float(headers.get("X-RateLimit-Reset-After") or headers.get("Retry-After") or 1.0)
            remaining = 0 if response.status == 429 else int(headers["X-RateLimit-Remaining"])
            self._buckets[channel_id] = Bucket(
                int(headers["X-RateLimit-Limit"]), remaining, now + reset_after
            )
            self._forget_stale(now)
        if 200 <= response.status < 300:
            for waiter in self._accept_waiters.pop(channel_id, []):
                if not waiter.done():
                    waiter.set_result(None)

    def slots(self, channel_id: int) -> int | None:
        """Messages the channel still takes in this window; ``None`` until a response described it."""
        bucket = self._buckets.get(channel_id)
        if bucket is None:
            return None
        return bucket.limit if self._now() >= bucket.resets_at else bucket.remaining

    def limit(self, channel_id: int) -> int | None:
        """The size of the channel's bucket when fresh; ``None`` until a response described it."""
        bucket = self._buckets.get(channel_id)
        return None if bucket is None else bucket.limit

    def _forget_stale(self, now: float) -> None:
        stale = [key for key, bucket in self._buckets.items() if bucket.resets_at + FORGET_AFTER_S < now]
        for channel_id in stale:
            del self._buckets[channel_id]

    def resets_at(self, channel_id: int) -> float | None:
        bucket = self._buckets.get(channel_id)
        return None if bucket is None else bucket.resets_at

    def next_accepted(self, channel_id: int) -> asyncio.Future[None]:
        """Resolves when the next message posted to ``channel_id`` has been accepted."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._accept_waiters.setdefault(channel_id, []).append(future)
        return future

    def stop_waiting_for(self, channel_id: int) -> None:
        """Stop waiting for messages to be accepted in ``channel_id`` (its sender stopped)."""
        for waiter in self._accept_waiters.pop(channel_id, []):
            waiter.cancel()

    @contextlib.asynccontextmanager
    async def global_slot(self) -> AsyncIterator[None]:
        """Wait, first come first served, until ``1 / rate`` after the previous request actually left.

        Spacing from actual departures, not from a schedule: a busy event loop wakes sleepers late, and
        scheduled turns that were missed would then leave together, over the limit within one window.
        """
        async with self._global_turn:
            wait = self._last_global + self._interval - self._now()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last_global = self._now()
        yield
