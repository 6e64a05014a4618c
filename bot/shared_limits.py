"""Discord's global limit and the Gemini concurrency cap, kept together by every process sharing one Redis
(``REDIS_URL``).

Discord allows 50 requests per second per bot token across all of its processes
(https://discord.com/developers/docs/topics/rate-limits#global-rate-limit): each request reserves the
next departure on the Redis clock (``TIME`` inside a Lua script, one clock for every process), so the
processes together leave ``1 / rate`` apart. Gemini calls hold a lease in a sorted set scored by when
it expires: a process that dies mid-call frees its slots when their leases run out.

Redis is a help, never a dependency: every operation has a short timeout, and when one fails the process
says so once, keeps to per-process limits (the in-process forms of ``bot/core/throttles.py``), asks
Redis again every few seconds and says when sharing resumed. No request ever waits on Redis for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import random
import secrets
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from bot.core.throttles import LocalCap, LocalPacer

log = logging.getLogger(__name__)

T = TypeVar("T")

OPERATION_TIMEOUT_S = 0.5
"""The longest any Redis operation may take before the process goes on with per-process limits."""
RETRY_EVERY_S = 3.0
"""While Redis is unreachable, how often it is asked again."""
POLL_S = (0.02, 0.1)
"""A caller waiting for a shared Gemini slot looks again after a random pause in this range."""
LEASE_MARGIN_S = 30.0
"""A Gemini slot's lease outlives the longest call by this much: only a dead holder's lease expires."""
DEFAULT_PREFIX = "parley:"

# The next departure is kept as a float (seconds on the Redis clock); the wait is returned as a string,
# since Redis turns a Lua number into an integer. A departure a minute ahead (thousands of requests
# queued) can only come from Redis's clock stepping back: it is forgotten.
_RESERVE_DEPARTURE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local departure = math.max(t, tonumber(redis.call('GET', KEYS[1]) or '0'))
if departure > t + 60 then departure = t end
redis.call('SET', KEYS[1], string.format('%.6f', departure + tonumber(ARGV[1])), 'PX', 60000)
return string.format('%.6f', departure - t)
"""

# Expired leases (their holders died) are dropped before counting.
_TAKE_LEASE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.6f', t))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
    redis.call('ZADD', KEYS[1], string.format('%.6f', t + tonumber(ARGV[2])), ARGV[3])
    redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000))
    return 1
end
return 0
"""


class RedisUnavailable(Exception):
    """Redis did not answer in time, or failed: the caller goes on with per-process limits."""


def _hashed(secret: str) -> str:
    """A key part naming a token or an API key without revealing it."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def redis_location(url: str) -> str:
    """Where Redis is, for logs: host and port, never the password."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


class SharedLimits:
    """One Redis connection pool and whether it is usable; it makes the shared limits.

    Create it inside the running event loop, ``await start()`` it, ``await aclose()`` it on shutdown.
    """

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix
        self.location = redis_location(url)
        self._client: redis.Redis = redis.Redis.from_url(
            url,
            socket_timeout=OPERATION_TIMEOUT_S,
            socket_connect_timeout=OPERATION_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),
        )
        self._reserve_departure = self._client.register_script(_RESERVE_DEPARTURE)
        self._take_lease = self._client.register_script(_TAKE_LEASE)
        self._sharing = True
        self._probe: asyncio.Task[None] | None = None
        self._cleanups: set[asyncio.Task[Any]] = set()

    @property
    def sharing(self) -> bool:
        """Whether the limits are shared now (Redis answers), or per process."""
        return self._sharing

    async def start(self) -> None:
        """Ask Redis once; when it does not answer, start with per-process limits (and say so)."""
        with contextlib.suppress(RedisUnavailable):
            await self.run(self._ping())
        if self._sharing:
            log.info("limits shared through Redis at %s", self.location)

    async def aclose(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.wait([self._probe])
        if self._cleanups:
            await asyncio.wait(self._cleanups, timeout=OPERATION_TIMEOUT_S)
        await self._client.aclose()

    async def _ping(self) -> None:
        await cast(Awaitable[bool], self._client.ping())

    async def run(self, operation: Awaitable[T]) -> T:
        """``operation``'s result, or :class:`RedisUnavailable` after the first failure or timeout (which
        switches to per-process limits until Redis answers again)."""
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT_S):
                return await operation
        except (RedisError, OSError, TimeoutError) as error:
            self._lost(error)
            raise RedisUnavailable from error

    def _lost(self, error: BaseException) -> None:
        if not self._sharing:
            return
        self._sharing = False
        log.warning(
            "Redis at %s is unreachable (%s): limits are per process until it answers again",
            self.location,
            type(error).__name__,
        )
        self._probe = asyncio.create_task(self._ask_again(), name="redis-probe")

    async def _ask_again(self) -> None:
        while True:
            await asyncio.sleep(RETRY_EVERY_S)
            try:
                async with asyncio.timeout(OPERATION_TIMEOUT_S):
                    await self._ping()
            except (RedisError, OSError, TimeoutError):
                continue
            self._sharing = True
            log.info("Redis at %s answers again: limits are shared again", self.location)
            return

    async def reserve_departure(self, key: str, interval_s: float) -> float:
        """Reserve the next departure under ``key``, ``interval_s`` after the one before; the wait for it."""
        return float(await self.run(self._reserve_departure(keys=[key], args=[interval_s])))

    async def take_lease(self, key: str, size: int, lease_s: float, lease: str) -> bool:
        """Whether ``lease`` was taken: fewer than ``size`` live leases were held under ``key``."""
        return bool(await self.run(self._take_lease(keys=[key], args=[size, lease_s, lease])) == 1)

    def give_back(self, key: str, lease: str) -> None:
        """Give ``lease`` back, without waiting: when Redis cannot be told, the lease expires instead."""

        async def quietly() -> None:
            with contextlib.suppress(RedisUnavailable):
                await self.run(self._client.zrem(key, lease))

        task = asyncio.create_task(quietly())
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    def global_pacer(self, token: str, rate_per_s: float) -> SharedPacer:
        """The pacer of every process using ``token`` (a Discord bot token) at ``rate_per_s`` together."""
        return SharedPacer(self, f"{self.prefix}discord-global:{_hashed(token)}", rate_per_s)

    def concurrency_cap(self, api_key: str, size: int, longest_call_s: float) -> SharedCap:
        """The cap on Gemini calls every process using ``api_key`` holds together."""
        return SharedCap(self, f"{self.prefix}gemini-calls:{_hashed(api_key)}", size, longest_call_s)


class SharedPacer:
    """:class:`~bot.core.throttles.GlobalPacer` across processes: each departure is reserved in Redis;
    per process (:class:`~bot.core.throttles.LocalPacer`) while Redis is unreachable."""

    def __init__(self, limits: SharedLimits, key: str, rate_per_s: float) -> None:
        self._limits = limits
        self.key = key
        self._interval = 1.0 / rate_per_s
        self._local = LocalPacer(rate_per_s)

    async def depart(self) -> None:
        if self._limits.sharing:
            try:
                wait = await self._limits.reserve_departure(self.key, self._interval)
            except RedisUnavailable:
                pass
            else:
                if wait > 0:
                    await asyncio.sleep(wait)
                return
        await self._local.depart()


class SharedCap:
    """:class:`~bot.core.throttles.ConcurrencyCap` across processes: a slot is a lease in Redis, on top
    of this process's own cap (:class:`~bot.core.throttles.LocalCap`), which alone holds while Redis is
    unreachable.

    A lease expires ``longest_call_s`` + :data:`LEASE_MARGIN_S` after it was taken, which only a holder
    that died before giving it back ever reaches. Calls that started while Redis was away hold no lease:
    just after it is back, the processes together may briefly have more calls in flight than the cap.
    """

    def __init__(self, limits: SharedLimits, key: str, size: int, longest_call_s: float) -> None:
        self._limits = limits
        self.key = key
        self.size = size
        self._lease_s = longest_call_s + LEASE_MARGIN_S
        self._local = LocalCap(size)
        self._holder = secrets.token_hex(6)
        self._leases = itertools.count()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._local.slot():
            lease = await self._take()
            try:
                yield
            finally:
                if lease is not None:
                    self._limits.give_back(self.key, lease)

    async def _take(self) -> str | None:
        """A lease, once one is free; ``None`` when Redis is (or becomes) unreachable."""
        lease = f"{self._holder}:{next(self._leases)}"
        while self._limits.sharing:
            try:
                taken = await self._limits.take_lease(self.key, self.size, self._lease_s, lease)
            except RedisUnavailable:
                return None
            except asyncio.CancelledError:  # it may have been taken all the same
                self._limits.give_back(self.key, lease)
                raise
            if taken:
                return lease
            await asyncio.sleep(random.uniform(*POLL_S))
        return None
