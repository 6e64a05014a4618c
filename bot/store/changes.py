"""Every process sharing a PostgreSQL database hears at once when another changed a server's panel or
settings, through PostgreSQL's LISTEN/NOTIFY.

A write notifies inside its transaction, so the notice goes out when (and only if) it commits
(https://www.postgresql.org/docs/current/sql-notify.html: "if a NOTIFY is executed inside a transaction,
the notify events are not delivered until and unless the transaction is committed"). Each process listens
on one connection of its own; when that connection is lost it reconnects, and says everything may have
changed meanwhile. The caches' expiry stays the safety net for whatever a lost notice would have said.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger(__name__)

CHANNEL = "parley_guild_changed"
"""The notification channel (an identifier: at most 63 bytes)."""
RECONNECT_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Waits between attempts to listen again; the last repeats."""
HEALTH_CHECK_EVERY_S = 30.0
"""How often the listening connection is checked, so that a silently dead one is noticed."""
FIRST_LISTEN_TIMEOUT_S = 5.0

Changed = Callable[[int | None], None]
"""Told a server's id when another process changed it, or None when anything may have changed."""


def asyncpg_dsn(url: URL) -> str:
    """The libpq connection string asyncpg takes, from SQLAlchemy's ``postgresql+asyncpg://`` URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class GuildChanges:
    """Announces this process's changes and hears the others'."""

    def __init__(self, dsn: str, changed: Changed) -> None:
        self._dsn = dsn
        self._changed = changed
        self._origin = secrets.token_hex(6)
        """Marks this process's own notices, which it ignores (it updated its caches itself)."""
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def announce(self, connection: AsyncConnection, guild_id: int) -> None:
        """Within a write transaction: every other process hears of ``guild_id`` once it commits."""
        await connection.execute(select(func.pg_notify(CHANNEL, f"{self._origin} {guild_id}")))

    async def start(self) -> None:
        """Start listening; returns once listening (or after a few seconds, still trying, if it cannot)."""
        self._task = asyncio.create_task(self._listen_forever(), name="guild-changes")
        try:
            async with asyncio.timeout(FIRST_LISTEN_TIMEOUT_S):
                await self._listening.wait()
        except TimeoutError:
            log.warning(
                "not listening for other processes' changes yet; their panels show after the cache expires"
            )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _heard(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        origin, _, guild = payload.partition(" ")
        if origin != self._origin and guild.isdigit():
            self._changed(int(guild))

    async def _listen_forever(self) -> None:
        failures = 0
        while True:
            try:
                connection = await asyncpg.connect(self._dsn)
            except (OSError, asyncpg.PostgresError) as error:
                delay = RECONNECT_DELAYS_S[min(failures, len(RECONNECT_DELAYS_S) - 1)]
                failures += 1
                log.warning("cannot listen for other processes' changes (%s); again in %g s", error, delay)
                await asyncio.sleep(delay)
                continue
            try:
                await connection.add_listener(CHANNEL, self._heard)
                if failures or self._listening.is_set():
                    self._changed(None)  # what was announced while nobody listened is unknown
                failures = 0
                self._listening.set()
                await self._until_lost(connection)
                log.warning("lost the connection that listens for other processes' changes; reconnecting")
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("listening for other processes' changes failed (%s); reconnecting", error)
            finally:
                with contextlib.suppress(Exception):
                    await connection.close(timeout=2)

    @staticmethod
    async def _until_lost(connection: asyncpg.Connection) -> None:
        """Return once ``connection`` is closed or stops answering."""
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), HEALTH_CHECK_EVERY_S)
                return
            try:
                await connection.fetchval("SELECT 1", timeout=5)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                return
