"""Retention, a member's request to be forgotten and a server's removal delete exactly what they say, on
SQLite and on the real PostgreSQL: other servers, other members and recent debates stay."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, select, update

from bot.core.debate import PersonaReply
from bot.core.llm import TokenUsage
from bot.core.panel import GuildSettings, with_added
from bot.core.personas import DEFAULT_PANEL, Persona
from bot.core.records import DebateStatus
from bot.store import (
    Store,
    audit_log,
    debate_replies,
    debates,
    guilds,
    make_engine,
    personas,
    token_usage,
)
from tests.conftest import Database

GUILD, OTHER_GUILD = 1001, 2002
MODERATOR, ASKER, BYSTANDER = 77, 88, 99
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
JUDGE = Persona("Judge", "⚖️", "You weigh the evidence like a judge.", 0x8E44AD, None)
TODAY = date(2026, 12, 5)


@pytest.fixture
async def store(database: Database) -> AsyncIterator[Store]:
    opened = await Store.open(database.url, **database.options)
    yield opened
    await opened.close()


@dataclass(frozen=True)
class Debate:
    id: int
    guild_id: int
    user_id: int
    age_days: float


async def add_debate(
    store: Store,
    database: Database,
    guild_id: int,
    user_id: int,
    age_days: float,
    *,
    finished: bool = True,
) -> Debate:
    """A debate with two recorded replies, started ``age_days`` before ``NOW``."""
    debate_id = await store.begin_debate(
        guild_id=guild_id,
        channel_id=5,
        user_id=user_id,
        question=f"Question of {user_id}, {age_days} days old?",
        panel=DEFAULT_PANEL,
    )
    for position in (0, 1):
        await store.record_reply(
            debate_id,
            position,
            DEFAULT_PANEL[position],
            PersonaReply(f"Answer {position}.", "m", 0.5, TokenUsage(3, 4)),
        )
    if finished:
        await store.end_debate(debate_id, DebateStatus.DONE, "✅ done", verdict="Verdict.", stats=None)
    engine = make_engine(database.url, **database.options)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(debates)
                .where(debates.c.id == debate_id)
                .values(started_at=NOW - timedelta(days=age_days))
            )
    finally:
        await engine.dispose()
    return Debate(debate_id, guild_id, user_id, age_days)


async def rows(database: Database, table: Table) -> list[tuple[Any, ...]]:
    """Every row of ``table`` (a fresh connection: what the database holds, no cache)."""
    engine = make_engine(database.url, **database.options)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(select(table))
            return sorted((tuple(row) for row in result.all()), key=repr)
    finally:
        await engine.dispose()


async def debate_ids(database: Database) -> set[int]:
    return {int(row[0]) for row in await rows(database, debates)}


async def reply_debate_ids(database: Database) -> set[int]:
    return {int(row[0]) for row in await rows(database, debate_replies)}


async def populate(store: Store, database: Database) -> dict[str, Debate]:
    """Two servers, each with a changed panel, settings, audit entries, usage and debates of all ages."""
    world: dict[str, Debate] = {}
    for guild_id in (GUILD, OTHER_GUILD):
        await store.change_panel(guild_id, MODERATOR, "add", functools.partial(with_added, persona=JUDGE))
        await store.update_settings(guild_id, MODERATOR, cooldown_s=30)
        await store.add_tokens(guild_id, TODAY, 500)
        prefix = "" if guild_id == GUILD else "other "
        world[prefix + "old asker"] = await add_debate(store, database, guild_id, ASKER, 40)
        world[prefix + "recent asker"] = await add_debate(store, database, guild_id, ASKER, 2)
        world[prefix + "old bystander"] = await add_debate(store, database, guild_id, BYSTANDER, 31)
        world[prefix + "recent bystander"] = await add_debate(store, database, guild_id, BYSTANDER, 29.9)
    return world


async def test_the_purge_deletes_only_debates_past_their_servers_retention(
    store: Store, database: Database
) -> None:
    world = await populate(store, database)
    assert await store.retention_days() == {}
    await store.set_retention(GUILD, MODERATOR, 30)
    assert await store.retention_days() == {GUILD: 30}
    assert (await store.settings(GUILD)).retention_days == 30
    assert (await store.settings(OTHER_GUILD)).retention_days is None
    (entry, *_) = await store.audit_log(GUILD)
    assert (entry.action, entry.summary) == ("retention", "retention set to 30 days")
    assert (entry.before, entry.after) == ({"retention_days": None}, {"retention_days": 30})
    usage_before = await rows(database, token_usage)

    deleted = await store.delete_debates_started_before(GUILD, NOW - timedelta(days=30))

    assert deleted == 2
    gone = {world["old asker"].id, world["old bystander"].id}
    everything = {debate.id for debate in world.values()}
    assert await debate_ids(database) == everything - gone
    assert await reply_debate_ids(database) == everything - gone
    assert await rows(database, token_usage) == usage_before
    assert [p.name for p in (await store.panel(GUILD)).personas][-1] == "Judge"
    assert await store.delete_debates_started_before(GUILD, NOW - timedelta(days=30)) == 0


async def test_clearing_the_retention_keeps_debates_and_is_audited(store: Store) -> None:
    await store.set_retention(GUILD, MODERATOR, 7)
    settings = await store.set_retention(GUILD, MODERATOR, None)
    assert settings.retention_days is None
    assert await store.retention_days() == {}
    cleared, _set = await store.audit_log(GUILD)
    assert (cleared.summary, cleared.before, cleared.after) == (
        "retention cleared: debates are kept",
        {"retention_days": 7},
        {"retention_days": None},
    )


async def test_a_running_debate_is_never_purged(store: Store, database: Database) -> None:
    running = await add_debate(store, database, GUILD, ASKER, 90, finished=False)
    finished = await add_debate(store, database, GUILD, ASKER, 90)
    assert await store.delete_debates_started_before(GUILD, NOW) == 1
    assert await debate_ids(database) == {running.id}
    assert await reply_debate_ids(database) == {running.id}
    assert finished.id != running.id


async def test_forgetting_a_member_deletes_their_debates_in_that_server_only(
    store: Store, database: Database
) -> None:
    world = await populate(store, database)
    running = await add_debate(store, database, GUILD, ASKER, 0, finished=False)
    panels_before = await rows(database, personas)
    usage_before = await rows(database, token_usage)

    assert await store.forget_member(GUILD, MODERATOR, ASKER) == (2, 1, 0)

    gone = {world["old asker"].id, world["recent asker"].id}
    kept = {debate.id for debate in world.values()} - gone | {running.id}
    assert await debate_ids(database) == kept
    assert await reply_debate_ids(database) == kept
    assert await rows(database, personas) == panels_before
    assert await rows(database, token_usage) == usage_before
    entry, *_ = await store.audit_log(GUILD)
    assert (entry.actor_id, entry.action) == (MODERATOR, "forget")
    assert entry.summary == f"deleted 2 debates started by member {ASKER}"
    assert entry.after == {"member_id": ASKER, "deleted": 2, "running": 1, "votes": 0}
    assert "Question" not in repr(entry)  # none of the member's content is kept in the audit log
    assert [e.action for e in await store.audit_log(OTHER_GUILD)] == ["settings", "add"]


async def test_forgetting_a_server_deletes_everything_of_it_and_nothing_else(
    store: Store, database: Database
) -> None:
    world = await populate(store, database)
    await store.set_retention(GUILD, MODERATOR, 30)
    running = await add_debate(store, database, GUILD, ASKER, 0, finished=False)
    assert (await store.panel(GUILD)).personas[-1] == JUDGE  # cached now
    others = {
        table.name: [row for row in await rows(database, table) if OTHER_GUILD in row]
        for table in (guilds, personas, audit_log, token_usage)
    }

    assert await store.forget_guild(GUILD) == 5

    assert running.id not in await debate_ids(database)
    kept = {debate.id for debate in world.values() if debate.guild_id == OTHER_GUILD}
    assert await debate_ids(database) == kept
    assert await reply_debate_ids(database) == kept
    for table in (guilds, personas, audit_log, token_usage):
        assert await rows(database, table) == others[table.name], table.name
    # The cache forgot it too: the server is back to the defaults, here and in a fresh process.
    assert (await store.panel(GUILD)).is_default
    assert await store.settings(GUILD) == GuildSettings()
    assert await store.audit_log(GUILD) == []
    assert await store.tokens_used(GUILD, TODAY) == 0
    assert await store.retention_days() == {}
    fresh = await Store.open(database.url, **database.options)
    try:
        assert (await fresh.panel(GUILD)).is_default
        assert (await fresh.panel(OTHER_GUILD)).personas[-1] == JUDGE
        assert (await fresh.settings(OTHER_GUILD)).cooldown_s == 30
        assert await fresh.tokens_used(OTHER_GUILD, TODAY) == 500
    finally:
        await fresh.close()
