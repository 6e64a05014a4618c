"""Deleting what Parley keeps: the :class:`~bot.core.records.PrivacyStore` on the database.

A debate's replies and votes are deleted with it, explicitly (the foreign keys' ``ON DELETE CASCADE`` also
cover a debate that finished while the deletion ran). Forgetting a server locks its row first, like every
settings write, so that no change to its panel or settings lands in between and the cache is left
holding the defaults.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
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


async def _delete_debates(connection: AsyncConnection, *conditions: Any) -> int:
    """Delete the debates matching ``conditions``, their replies and votes; returns how many debates."""
    chosen = select(debates.c.id).where(*conditions)
    for table in (debate_replies, debate_votes):
        await connection.execute(delete(table).where(table.c.debate_id.in_(chosen)))
    result = await connection.execute(delete(debates).where(*conditions))
    return int(result.rowcount)


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
            deleted = await _delete_debates(connection, debates.c.guild_id == guild_id)
            for table in (token_usage, audit_log, personas, guilds):
                await connection.execute(delete(table).where(table.c.guild_id == guild_id))
        self._panels.end_write(guild_id, panel_ticket, DEFAULT)
        self._settings.end_write(guild_id, settings_ticket, GuildSettings())
        return deleted
