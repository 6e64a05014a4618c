"""Processes sharing one PostgreSQL database hear each other's panel and settings changes at once (LISTEN/
NOTIFY), long before their caches expire; a lost listening connection comes back and forgets what it
cached."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from bot.core.panel import with_added
from bot.core.personas import Persona
from bot.store import Store
from bot.store.changes import CHANNEL
from tests.conftest import POSTGRES_DSN, Database, _postgres_schema, connect_postgres

GUILD, OTHER_GUILD, MODERATOR = 2001, 2002, 77
NEVER_EXPIRES_S = 3600.0
"""The caches' expiry, far beyond the tests: only a notice can make a process read again."""
HEARD_WITHIN_S = 1.0
T = TypeVar("T")


@pytest.fixture
async def postgres() -> AsyncIterator[Database]:
    connection, schema = await _postgres_schema()
    try:
        url = "postgresql+asyncpg://" + POSTGRES_DSN.split("://", 1)[1]
        yield Database(url, {"connect_args": {"server_settings": {"search_path": schema}}})
    finally:
        await connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await connection.close()


@pytest.fixture
async def processes(postgres: Database) -> AsyncIterator[list[Store]]:
    """Three stores on one database, as three bot processes would have."""
    stores = [await Store.open(postgres.url, **postgres.options) for _ in range(3)]
    for store in stores:
        store._panels._ttl_s = store._settings._ttl_s = NEVER_EXPIRES_S
    yield stores
    for store in stores:
        await store.close()


async def eventually(read: Callable[[], Awaitable[T]], wanted: Callable[[T], bool], within_s: float) -> T:
    """Read until ``wanted`` holds, failing after ``within_s``."""
    async with asyncio.timeout(within_s):
        while True:
            value = await read()
            if wanted(value):
                return value
            await asyncio.sleep(0.02)


def persona(name: str) -> Persona:
    return Persona(name, "🗣️", f"You are {name}, with views of your own.", 0x123456)


async def test_a_persona_added_in_one_process_is_used_by_the_others_within_a_second(
    processes: list[Store],
) -> None:
    first, second, third = processes
    for store in processes:  # every process has the panel cached
        assert len((await store.panel(GUILD)).personas) == 4
        assert (await store.settings(GUILD)).cooldown_s is None
    await first.change_panel(GUILD, MODERATOR, "add", functools.partial(with_added, persona=persona("Yoda")))
    await third.update_settings(GUILD, MODERATOR, cooldown_s=45)
    for store in (second, third):
        panel = await eventually(
            functools.partial(store.panel, GUILD), lambda panel: len(panel.personas) == 5, HEARD_WITHIN_S
        )
        assert panel.personas[-1].name == "Yoda"
    for store in (first, second):
        await eventually(
            functools.partial(store.settings, GUILD),
            lambda settings: settings.cooldown_s == 45,
            HEARD_WITHIN_S,
        )


async def test_a_change_only_makes_the_others_forget_that_server(processes: list[Store]) -> None:
    first, second, _ = processes
    await second.panel(GUILD)
    cached_other = await second.panel(OTHER_GUILD)
    await first.change_panel(
        GUILD, MODERATOR, "add", functools.partial(with_added, persona=persona("Ahsoka"))
    )
    await eventually(lambda: second.panel(GUILD), lambda panel: len(panel.personas) == 5, HEARD_WITHIN_S)
    assert second._panels.get(OTHER_GUILD) is cached_other, "the other server's panel stays cached"


async def test_a_lost_listening_connection_comes_back_and_forgets_what_was_cached_meanwhile(
    processes: list[Store],
) -> None:
    first, second, _ = processes
    await second.panel(GUILD)
    admin = await connect_postgres()
    try:
        listening = await admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE query = $1 AND pid <> pg_backend_pid()",
            f'LISTEN "{CHANNEL}"',
        )
        assert listening, "each process listens on a connection of its own"
        for row in listening:  # every listener in this database drops, as in a failover
            await admin.execute("SELECT pg_terminate_backend($1)", row["pid"])
        # Announced while nobody listens: nobody hears it, yet the processes must not keep the old panel.
        await first.change_panel(
            GUILD, MODERATOR, "add", functools.partial(with_added, persona=persona("Rex"))
        )
        await eventually(lambda: second.panel(GUILD), lambda panel: len(panel.personas) == 5, 5.0)
        # And it listens again: the next change is heard within the second.
        await first.change_panel(
            GUILD, MODERATOR, "add", functools.partial(with_added, persona=persona("Cody"))
        )
        await eventually(lambda: second.panel(GUILD), lambda panel: len(panel.personas) == 6, HEARD_WITHIN_S)
    finally:
        await admin.close()


async def test_sqlite_has_no_listener_and_still_works(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}")
    try:
        assert store._changes is None
        await store.change_panel(
            GUILD, MODERATOR, "add", functools.partial(with_added, persona=persona("Yoda"))
        )
        assert (await store.panel(GUILD)).personas[-1].name == "Yoda"
    finally:
        await store.close()
