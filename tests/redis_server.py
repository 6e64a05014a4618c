"""Redis for the tests: the shared one (``PARLEY_TEST_REDIS``, default 127.0.0.1:6379), and private
``redis-server`` processes a test may stop and start again (Redis going away mid-run)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as redis

REDIS_URL = os.environ.get("PARLEY_TEST_REDIS", "redis://127.0.0.1:6379/0")


def unique_prefix() -> str:
    """Keys of one test only: parallel runs sharing a Redis never meet."""
    return f"parley-test:{secrets.token_hex(6)}:"


async def _answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(await cast(Awaitable[bool], client.ping()))
    except (redis.RedisError, OSError):
        return False
    finally:
        await client.aclose()


async def shared_redis_url() -> str:
    """The shared Redis's URL. Unreachable: a failure under CI, a visible skip elsewhere."""
    if not await _answers(REDIS_URL):
        message = f"Redis is not reachable at {REDIS_URL}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI must run the Redis tests)")
        pytest.skip(message)
    return REDIS_URL


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateRedis:
    """A ``redis-server`` of one test, on a port of its own, that the test stops and starts at will."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            pytest.skip("redis-server is not installed")
        self._binary = binary
        self._directory = directory
        self.port = _free_port()
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Start it (on the same port as before) and return once it answers."""
        self._process = await asyncio.create_subprocess_exec(
            self._binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self._directory),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(10):
            while True:  # a process of its own: nothing to wait on but the port
                if await _answers(self.url):
                    break
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Kill it at once (as a crash would), forgetting everything it held."""
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()
        self._process = None


@contextlib.asynccontextmanager
async def private_redis(directory: Path) -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis(directory)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
