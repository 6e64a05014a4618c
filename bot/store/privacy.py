"""Deleting what Parley keeps: the :class:`~bot.core.records.PrivacyStore` on the database.

A debate's continuations (another round, a follow-up: they quote it and answer it) are deleted with it
and counted, as are all their replies and votes, explicitly (the foreign keys' ``ON DELETE CASCADE`` also
cover a debate that finished while the deletion ran). Forgetting a server locks its row first, like every
settings write, so that no change to its panel or settings lands in between and the cache is left
holding the defaults.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.panel import DEFAULT, GuildSettings
from bot.core.records import DebateStatus, Forgotten
from bot.store.panels import Panels
from bot.store.schema import (
    audit_log,
    debate_replies,
    debate_votes,
    debates,
    guilds,
    personas,
    token_usage,
)

CHUNK = 500
"""Ids per statement (well inside SQLite's limit on bound parameters)."""


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


async def _with_continuations(
    connection: AsyncConnection, chosen: Collection[int], *, keep_running: bool
) -> list[int]:
    """``chosen`` and every debate continuing them, generation by generation; with ``keep_running``,
    without a chosen debate whose continuations (at any depth) have one still running, nor them."""
    owner = {debate_id: debate_id for debate_id in chosen}
    running: set[int] = set()
    frontier = list(chosen)
    while frontier:
        found: list[Row[Any, Any, Any]] = []
        for chunk in _chunks(frontier):
            query = select(debates.c.id, debates.c.continues_id, debates.c.status).where(
                debates.c.continues_id.in_(chunk)
            )
            found += (await connection.execute(query)).all()
        frontier = []
        for row in found:
            if row.id in owner:
                continue
            owner[row.id] = owner[row.continues_id]
            if row.status == DebateStatus.RUNNING.value:
                running.add(owner[row.id])
            frontier.append(row.id)
    if not keep_running:
        running.clear()
    return sorted(debate_id for debate_id, root in owner.items() if root not in running)


async def _delete_debates(connection: AsyncConnection, *conditions: Any, keep_running: bool = True) -> int:
    """Delete the debates matching ``conditions`` with their continuations and all their replies and
    votes; returns how many debates. With ``keep_running``, a debate with a continuation still running is
    kept whole. (The foreign keys' ``ON DELETE CASCADE`` would delete the replies, votes and continuations
    too; they are chosen here so that the count says what went.)"""
    chosen = (await connection.execute(select(debates.c.id).where(*conditions))).scalars().all()
    doomed = await _with_continuations(connection, chosen, keep_running=keep_running)
    for chunk in _chunks(doomed):
        for table in (debate_replies, debate_votes):
            await connection.execute(delete(table).where(table.c.debate_id.in_(chunk)))
        await connection.execute(
            update(debates).where(debates.c.next_round_id.in_(chunk)).values(next_round_id=None)
        )
    # Newest first, so that no continuation goes by its parent's cascade (uncounted by SQLite) instead.
    for chunk in _chunks(doomed[::-1]):
        await connection.execute(delete(debates).where(debates.c.id.in_(chunk)))
    return len(doomed)


class Privacy(Panels):
    """Retention, a member's request to be forgotten, and a server that removed Parley."""

    async def retention_days(self) -> dict[int, int]:
        query = select(guilds.c.guild_id, guilds.c.retention_days).where(guilds.c.retention_days > 0)
        async with self._database.read() as connection:
            rows = (await connection.execute(query)).all()
        return {row.guild_id: row.retention_days for row in rows}

    async def delete_debates_started_before(self, guild_id: int, cutoff: datetime) -> int:
        async with self._database.write() as connection:
            return await _delete_debates(
                connection,
                debates.c.guild_id == guild_id,
                debates.c.started_at < cutoff,
                debates.c.status != DebateStatus.RUNNING.value,
            )

    async def forget_member(self, guild_id: int, actor_id: int, member_id: int) -> Forgotten:
        of_member = (debates.c.guild_id == guild_id, debates.c.user_id == member_id)
        in_guild = select(debates.c.id).where(debates.c.guild_id == guild_id)
        async with self._database.write() as connection:
            await self._lock_guild(connection, guild_id)
            votes = (
                await connection.execute(
                    delete(debate_votes).where(
                        debate_votes.c.user_id == member_id, debate_votes.c.debate_id.in_(in_guild)
                    )
                )
            ).rowcount
            deleted = await _delete_debates(
                connection, *of_member, debates.c.status != DebateStatus.RUNNING.value
            )
            running = (
                await connection.execute(select(func.count()).select_from(debates).where(*of_member))
            ).scalar_one()
            await self._audit(
                connection,
                guild_id,
                actor_id,
                "forget",
                f"deleted {deleted} debates started by member {member_id}"
                + (f" and {votes} of their votes" if votes else ""),
                None,
                {"member_id": member_id, "deleted": deleted, "running": running, "votes": votes},
            )
        return Forgotten(deleted, int(running), int(votes))

    async def forget_guild(self, guild_id: int) -> int:
        async with self._database.write() as connection:
            await self._lock_guild(connection, guild_id)
            panel_ticket = self._panels.begin_write(guild_id)
            settings_ticket = self._settings.begin_write(guild_id)
            deleted = await _delete_debates(connection, debates.c.guild_id == guild_id, keep_running=False)
            for table in (token_usage, audit_log, personas, guilds):
                await connection.execute(delete(table).where(table.c.guild_id == guild_id))
        self._panels.end_write(guild_id, panel_ticket, DEFAULT)
        self._settings.end_write(guild_id, settings_ticket, GuildSettings())
        return deleted
