"""The store beside other writers and other processes: reads that do not queue behind a write, a cache
that never keeps what a write replaced, and processes that open one fresh database together."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TypeVar

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.panel import GuildSettings, StoredPanel, with_added
from bot.core.personas import DEFAULT_PANEL, Persona
from bot.store import Database as StoreDatabase
from bot.store import Store, guilds, make_engine, personas, token_usage
from bot.store.engine import MIGRATIONS
from tests.conftest import Database

GUILD, MODERATOR = 1001, 77
TODAY = date(2026, 12, 3)
JUDGE = Persona("Judge", "⚖️", "You weigh the evidence like a judge.", 0x8E44AD)
add_judge = functools.partial(with_added, persona=JUDGE)
T = TypeVar("T")


@pytest.fixture
async def store(database: Database) -> AsyncIterator[Store]:
    opened = await Store.open(database.url, **database.options)
    yield opened
    await opened.close()


async def test_reads_go_ahead_while_another_connection_holds_a_write_transaction(
    store: Store, database: Database
) -> None:
    await store.change_panel(GUILD, MODERATOR, "add", add_judge)
    await store.update_settings(GUILD, MODERATOR, cooldown_s=30)
    await store.add_tokens(GUILD, TODAY, 100)
    writer = StoreDatabase(make_engine(database.url, **database.options))
    reader = Store(make_engine(database.url, **database.options))  # another process: a cold cache
    try:
        async with writer.write() as connection:
            await connection.execute(update(guilds).values(cooldown_s=60))
            await connection.execute(update(token_usage).values(tokens=999))
            await connection.execute(personas.delete())
            queued_write = asyncio.create_task(reader.update_settings(GUILD, MODERATOR, max_debates=2))
            async with asyncio.timeout(1):
                panel = await reader.panel(GUILD)
                settings = await reader.settings(GUILD)
                used = await reader.tokens_used(GUILD, TODAY)
            await asyncio.sleep(0.2)
            assert not queued_write.done(), "a write waits for the writer: it really holds its lock"
        assert (await queued_write).max_debates == 2
        # What the reads saw is the state before the writer's transaction, which was still open then.
        assert panel.personas == (*DEFAULT_PANEL, JUDGE)
        assert settings.cooldown_s == 30
        assert used == 100
        fresh = Store(make_engine(database.url, **database.options))
        try:
            assert (await fresh.panel(GUILD)).is_default
            assert (await fresh.settings(GUILD)).cooldown_s == 60
            assert await fresh.tokens_used(GUILD, TODAY) == 999
        finally:
            await fresh.close()
    finally:
        await reader.close()
        await writer.close()


def hold_first_call(
    read: Callable[[AsyncConnection, int], Awaitable[T]],
) -> tuple[Callable[[AsyncConnection, int], Awaitable[T]], asyncio.Event, asyncio.Event, list[int]]:
    """``read`` whose first call, once it has its result, waits for ``release``; ``calls`` counts them."""
    has_read, release, calls = asyncio.Event(), asyncio.Event(), [0]

    async def held(connection: AsyncConnection, guild_id: int) -> T:
        calls[0] += 1
        first = calls[0] == 1
        result = await read(connection, guild_id)
        if first:
            has_read.set()
            await release.wait()
        return result

    return held, has_read, release, calls


async def test_a_panel_read_from_before_a_write_does_not_replace_the_writes_cached_panel(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(make_engine(database.url, **database.options), cache_ttl_s=3600)
    try:
        await store.migrate()
        held, has_read, release, calls = hold_first_call(store._read_panel)
        monkeypatch.setattr(store, "_read_panel", held)
        early_read = asyncio.create_task(store.panel(GUILD))
        await has_read.wait()  # it has the default panel and has not returned yet
        _, after = await store.change_panel(GUILD, MODERATOR, "add", add_judge)
        release.set()
        assert (await early_read).is_default
        assert await store.panel(GUILD) == after == StoredPanel((*DEFAULT_PANEL, JUDGE), is_default=False)
        assert calls[0] == 2, "the early read and the write's own: the panel came from the cache"
    finally:
        await store.close()


async def test_a_settings_read_from_before_a_write_does_not_replace_the_writes_cached_settings(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(make_engine(database.url, **database.options), cache_ttl_s=3600)
    try:
        await store.migrate()
        held, has_read, release, calls = hold_first_call(store._read_settings)
        monkeypatch.setattr(store, "_read_settings", held)
        early_read = asyncio.create_task(store.settings(GUILD))
        await has_read.wait()
        written = await store.update_settings(GUILD, MODERATOR, cooldown_s=45)
        release.set()
        assert await early_read == GuildSettings()
        assert await store.settings(GUILD) == written == GuildSettings(cooldown_s=45)
        assert calls[0] == 3, "the early read and the write's two: the settings came from the cache"
    finally:
        await store.close()


async def test_several_processes_opening_one_fresh_database_together_all_start(database: Database) -> None:
    async with asyncio.timeout(30):
        opened = await asyncio.gather(
            *(Store.open(database.url, **database.options) for _ in range(4)), return_exceptions=True
        )
    stores = [store for store in opened if isinstance(store, Store)]
    try:
        assert stores == opened, [repr(error) for error in opened if not isinstance(error, Store)]
        async with stores[0]._database.read() as connection:
            versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars()
            at = list(versions)
        assert (await stores[-1].panel(GUILD)).is_default
    finally:
        for store in stores:
            await store.close()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert at == [ScriptDirectory.from_config(config).get_current_head()]


async def test_opening_a_new_sqlite_file_waits_while_another_connection_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "parley.db"
    other = sqlite3.connect(path, isolation_level=None)  # another process, in the file's first journal mode
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("CREATE TABLE elsewhere (x INTEGER)")
        opening = asyncio.create_task(Store.open(f"sqlite+aiosqlite:///{path}"))
        await asyncio.sleep(0.3)
        assert not opening.done(), "switching to WAL needs the file to itself: it waits, and does not fail"
        other.execute("COMMIT")
        store = await asyncio.wait_for(opening, 10)
        try:
            assert (await store.panel(GUILD)).is_default
        finally:
            await store.close()
    finally:
        other.close()
    with contextlib.closing(sqlite3.connect(path)) as fresh:
        assert fresh.execute("PRAGMA journal_mode").fetchone() == ("wal",)
