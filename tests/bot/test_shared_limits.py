"""The limits every process sharing one Redis keeps together: two coordinators, as two processes would
have, on a real Redis; and what happens when Redis goes away and comes back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import redis.asyncio as redis

from bot import shared_limits
from bot.core.throttles import ConcurrencyCap, GlobalPacer, LocalCap, LocalPacer
from bot.ratelimits import GLOBAL_RATE_PER_S, RateLimits
from bot.shared_limits import SharedLimits
from tests.redis_server import PrivateRedis, private_redis, shared_redis_url, unique_prefix

TOKEN = "discord-token"
KEY = "gemini-key"


@contextlib.asynccontextmanager
async def coordinators(
    url: str, count: int = 2, prefix: str | None = None
) -> AsyncIterator[list[SharedLimits]]:
    """``count`` coordinators on one Redis under one (fresh) key prefix, each with its own connections."""
    prefix = prefix or unique_prefix()
    made = [SharedLimits(url, prefix=prefix) for _ in range(count)]
    for limits in made:
        await limits.start()
    try:
        yield made
    finally:
        for limits in made:
            await limits.aclose()


async def until_sharing(coordinators: Sequence[SharedLimits]) -> None:
    """Return once every coordinator shares again (each asks Redis again on its own)."""
    while True:
        if all(limits.sharing for limits in coordinators):
            return
        await asyncio.sleep(0.05)


class InFlight:
    """Counts calls in flight through caps and keeps the high-water mark."""

    def __init__(self) -> None:
        self.now = 0
        self.high = 0
        self.done = 0

    async def call(self, cap: ConcurrencyCap, hold_s: float) -> None:
        async with cap.slot():
            self.now += 1
            self.high = max(self.high, self.now)
            try:
                await asyncio.sleep(hold_s)
            finally:
                self.now -= 1
                self.done += 1


async def depart_all(pacers: Sequence[GlobalPacer], each: int) -> list[float]:
    """Departure times of ``each`` requests through every pacer at once, sorted."""
    times: list[float] = []

    async def send(pacer: GlobalPacer) -> None:
        await pacer.depart()
        times.append(time.monotonic())

    await asyncio.gather(*(send(pacer) for pacer in pacers for _ in range(each)))
    return sorted(times)


def spacing_holds(times: Sequence[float], rate_per_s: float) -> bool:
    """Whether no one-second window holds more than ``rate`` departures (a little slack for scheduling)."""
    window = 1.0
    return all(
        sum(1 for later in times[i:] if later - start < window) <= rate_per_s * window + 1
        for i, start in enumerate(times)
    )


async def test_two_processes_together_hold_at_most_the_cap_of_gemini_calls() -> None:
    url = await shared_redis_url()
    async with coordinators(url) as (first, second):
        caps = [limits.concurrency_cap(KEY, 3, longest_call_s=10.0) for limits in (first, second)]
        flight = InFlight()
        await asyncio.gather(*(flight.call(cap, 0.03) for cap in caps for _ in range(15)))
        assert flight.done == 30
        assert flight.high == 3  # shared: each process alone would have held 3, 6 together
        assert first.sharing
        assert second.sharing


async def test_alone_each_process_holds_its_own_cap() -> None:
    flight = InFlight()
    caps = [LocalCap(3), LocalCap(3)]
    await asyncio.gather(*(flight.call(cap, 0.03) for cap in caps for _ in range(15)))
    assert flight.high == 6


async def test_two_processes_together_keep_to_the_global_rate() -> None:
    url = await shared_redis_url()
    rate = 50.0
    async with coordinators(url) as (first, second):
        pacers = [limits.global_pacer(TOKEN, rate) for limits in (first, second)]
        started = time.monotonic()
        times = await depart_all(pacers, 40)
    assert len(times) == 80
    assert times[-1] - started >= 79 / rate * 0.95  # 80 departures, 1/rate apart in all
    assert spacing_holds(times, rate)


async def test_alone_each_process_keeps_its_own_rate() -> None:
    rate = 50.0
    started = time.monotonic()
    times = await depart_all([LocalPacer(rate), LocalPacer(rate)], 40)
    assert times[-1] - started < 79 / rate * 0.75  # two processes alone: twice the rate together


async def test_different_tokens_pace_apart() -> None:
    url = await shared_redis_url()
    rate = 50.0
    async with coordinators(url) as (first, second):
        pacers = [first.global_pacer("one token", rate), second.global_pacer("another token", rate)]
        started = time.monotonic()
        times = await depart_all(pacers, 40)
    assert times[-1] - started < 79 / rate * 0.75


async def test_a_departure_far_ahead_is_forgotten_as_a_clock_that_stepped_back() -> None:
    url = await shared_redis_url()
    async with coordinators(url, count=1) as (limits,):
        pacer = limits.global_pacer(TOKEN, 50.0)
        client = redis.Redis.from_url(url)
        try:
            await client.set(pacer.key, str(time.time() + 3600), px=60_000)
        finally:
            await client.aclose()
        async with asyncio.timeout(0.5):
            await pacer.depart()
            await pacer.depart()


async def test_the_lease_of_a_holder_that_died_expires() -> None:
    url = await shared_redis_url()
    async with coordinators(url) as (crashed, alive):
        cap = alive.concurrency_cap(KEY, 1, longest_call_s=10.0)
        # The crashed process took the only slot, on a 0.4 s lease, and never gave it back.
        assert await crashed.take_lease(cap.key, 1, 0.4, "crashed:0")
        started = time.monotonic()
        async with asyncio.timeout(3), cap.slot():
            waited = time.monotonic() - started
        assert 0.3 <= waited < 1.5
        assert alive.sharing


async def test_a_slot_given_back_is_free_at_once_for_another_process() -> None:
    url = await shared_redis_url()
    async with coordinators(url) as (first, second):
        caps = [limits.concurrency_cap(KEY, 1, longest_call_s=10.0) for limits in (first, second)]
        for _ in range(3):
            for cap in caps:
                async with asyncio.timeout(1), cap.slot():
                    pass


async def test_a_cancelled_wait_leaves_no_lease_behind() -> None:
    url = await shared_redis_url()
    async with coordinators(url) as (first, second):
        holder = first.concurrency_cap(KEY, 1, longest_call_s=10.0)
        waiter = second.concurrency_cap(KEY, 1, longest_call_s=10.0)
        async with holder.slot():
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2), waiter.slot():
                    pass
        async with asyncio.timeout(1), waiter.slot():
            pass


@pytest.fixture
def quick_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared_limits, "RETRY_EVERY_S", 0.2)


@pytest.mark.usefixtures("quick_retry")
async def test_redis_going_away_leaves_per_process_limits_then_sharing_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.shared_limits")
    async with private_redis(tmp_path) as server, coordinators(server.url) as (first, second):
        caps = [limits.concurrency_cap(KEY, 2, longest_call_s=10.0) for limits in (first, second)]
        pacers = [limits.global_pacer(TOKEN, 50.0) for limits in (first, second)]
        flight = InFlight()
        await asyncio.gather(*(flight.call(cap, 0.02) for cap in caps for _ in range(10)))
        assert flight.high == 2

        await server.stop()
        flight = InFlight()
        async with asyncio.timeout(5):  # nothing waits on the missing Redis for long
            await asyncio.gather(*(flight.call(cap, 0.02) for cap in caps for _ in range(10)))
            await depart_all(pacers, 10)
            await asyncio.gather(*(flight.call(cap, 0.02) for cap in caps for _ in range(10)))
        assert flight.done == 40
        assert flight.high == 4  # each process keeps its own cap of 2
        assert not first.sharing
        assert not second.sharing
        lost = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(lost) == 2  # one warning per process, not one per call
        assert all(r.levelno == logging.WARNING for r in lost)

        await server.start()
        async with asyncio.timeout(5):
            await until_sharing([first, second])
        back = [r for r in caplog.records if "shared again" in r.getMessage()]
        assert len(back) == 2
        flight = InFlight()
        await asyncio.gather(*(flight.call(cap, 0.02) for cap in caps for _ in range(10)))
        assert flight.high == 2
        started = time.monotonic()
        times = await depart_all(pacers, 20)
        assert times[-1] - started >= 39 / 50.0 * 0.95


async def test_a_redis_that_never_answers_holds_no_call_for_long(caplog: pytest.LogCaptureFixture) -> None:
    """A Redis that takes connections and never replies (a hung server, a black-holed network)."""
    accepted: list[asyncio.StreamWriter] = []

    async def swallow(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with coordinators(f"redis://127.0.0.1:{port}/0", count=1) as (limits,):
            cap = limits.concurrency_cap(KEY, 1, longest_call_s=10.0)
            pacer = limits.global_pacer(TOKEN, 50.0)
            started = time.monotonic()
            async with cap.slot():
                pass
            await pacer.depart()
            assert time.monotonic() - started < 2 * shared_limits.OPERATION_TIMEOUT_S + 0.5
            assert not limits.sharing
            assert sum("unreachable" in r.getMessage() for r in caplog.records) == 1
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.usefixtures("quick_retry")
async def test_a_redis_down_at_start_up_leaves_the_process_its_own_limits_until_it_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.shared_limits")
    server = PrivateRedis(tmp_path)  # not started yet
    async with coordinators(server.url, count=1) as (limits,):
        assert not limits.sharing
        cap = limits.concurrency_cap(KEY, 1, longest_call_s=10.0)
        async with asyncio.timeout(1), cap.slot():
            pass
        await server.start()
        try:
            async with asyncio.timeout(5):
                await until_sharing([limits])
            async with asyncio.timeout(1), cap.slot():
                assert await server_leases(server.url, cap.key) == 1
            messages = [r.getMessage() for r in caplog.records if r.name == "bot.shared_limits"]
            assert sum("unreachable" in message for message in messages) == 1
            assert sum("shared again" in message for message in messages) == 1
        finally:
            await server.stop()


async def server_leases(url: str, key: str) -> int:
    """How many leases Redis holds under ``key``, read by a client of the test's own."""
    client = redis.Redis.from_url(url)
    try:
        return int(await client.zcard(key))
    finally:
        await client.aclose()


class CountingPacer:
    def __init__(self) -> None:
        self.departures = 0

    async def depart(self) -> None:
        self.departures += 1


async def test_discord_requests_leave_through_the_pacer_they_are_given() -> None:
    pacer = CountingPacer()
    limits = RateLimits(pacer)
    for _ in range(3):
        async with limits.global_slot():
            pass
    assert pacer.departures == 3


async def test_alone_discord_requests_keep_to_the_global_rate() -> None:
    limits = RateLimits()
    started = time.monotonic()
    for _ in range(9):
        async with limits.global_slot():
            pass
    assert time.monotonic() - started >= 8 / GLOBAL_RATE_PER_S * 0.95
