"""Panels, settings and the audit log: the :class:`~bot.core.panel.PanelStore` on the database.

Every write runs in one transaction that first locks the server's row (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite write transactions hold the database's write lock), so concurrent changes, from this
process or another one sharing the database, apply one after the other and none is lost. Panel and
settings reads are served from a :class:`~bot.store.cache.VersionedCache`; on PostgreSQL every write also
tells the other processes sharing the database (:mod:`bot.store.changes`), which drop what they cached.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.panel import (
    DEFAULT,
    AuditEntry,
    GuildSettings,
    Panel,
    PanelChange,
    StoredPanel,
    key,
    persona_json,
)
from bot.core.personas import Persona
from bot.store.cache import VersionedCache
from bot.store.changes import GuildChanges, asyncpg_dsn
from bot.store.engine import Database
from bot.store.schema import LIMIT_COLUMNS, audit_log, guilds, personas

V = TypeVar("V")


def _persona(row: Any) -> Persona:
    return Persona(row.name, row.emoji, row.instructions, row.colour, row.model, row.grounded)


def _panel_json(panel: StoredPanel) -> list[dict[str, Any]] | None:
    return None if panel.is_default else [persona_json(persona) for persona in panel.personas]


class Panels:
    """Each server's panel, settings and audit log."""

    def __init__(
        self, database: Database, *, cache_ttl_s: float = 15.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._database = database
        self._panels: VersionedCache[StoredPanel] = VersionedCache(cache_ttl_s, clock)
        self._settings: VersionedCache[GuildSettings] = VersionedCache(cache_ttl_s, clock)
        self._changes: GuildChanges | None = None

    async def share_changes(self) -> None:
        """On PostgreSQL, announce this process's panel and settings changes to the others sharing the
        database and hear theirs (a no-op on SQLite, which one process uses alone)."""
        if self._database.dialect == "postgresql" and self._changes is None:
            self._changes = GuildChanges(asyncpg_dsn(self._database.engine.url), self.forget_cached)
            await self._changes.start()

    def forget_cached(self, guild_id: int | None) -> None:
        """Another process changed ``guild_id``'s panel or settings (None: any server's)."""
        self._panels.forget(guild_id)
        self._settings.forget(guild_id)

    async def stop_sharing_changes(self) -> None:
        if self._changes is not None:
            await self._changes.close()
            self._changes = None

    # -- reads ------------------------------------------------------------------------------------

    async def panel(self, guild_id: int) -> StoredPanel:
        return await self._through_cache(self._panels, guild_id, self._read_panel)

    async def settings(self, guild_id: int) -> GuildSettings:
        return await self._through_cache(self._settings, guild_id, self._read_settings)

    async def _through_cache(
        self,
        cache: VersionedCache[V],
        guild_id: int,
        read: Callable[[AsyncConnection, int], Awaitable[V]],
    ) -> V:
        """The cached value, or one read from the database and offered to the cache."""
        cached = cache.get(guild_id)
        if cached is not None:
            return cached
        version = cache.version(guild_id)
        async with self._database.read() as connection:
            value = await read(connection, guild_id)
        return cache.offer(guild_id, version, value)

    async def audit_log(self, guild_id: int, limit: int = 20) -> list[AuditEntry]:
        query = (
            select(audit_log)
            .where(audit_log.c.guild_id == guild_id)
            .order_by(audit_log.c.id.desc())
            .limit(limit)
        )
        async with self._database.read() as connection:
            rows = (await connection.execute(query)).all()
        return [
            AuditEntry(
                at=row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC),
                actor_id=row.actor_id,
                action=row.action,
                summary=row.summary,
                before=row.before,
                after=row.after,
            )
            for row in rows
        ]

    @staticmethod
    async def _read_panel(connection: AsyncConnection, guild_id: int) -> StoredPanel:
        query = select(personas).where(personas.c.guild_id == guild_id).order_by(personas.c.position)
        rows = (await connection.execute(query)).all()
        return StoredPanel(tuple(_persona(row) for row in rows), is_default=False) if rows else DEFAULT

    @staticmethod
    async def _read_settings(connection: AsyncConnection, guild_id: int) -> GuildSettings:
        row = (await connection.execute(select(guilds).where(guilds.c.guild_id == guild_id))).first()
        if row is None:
            return GuildSettings()
        return GuildSettings(
            moderator_role_id=row.moderator_role_id,
            cooldown_s=row.cooldown_s,
            max_debates=row.max_debates,
            daily_token_budget=row.daily_token_budget,
            retention_days=row.retention_days,
            language=row.language,
        )

    # -- writes -----------------------------------------------------------------------------------

    async def _lock_guild(self, connection: AsyncConnection, guild_id: int) -> None:
        """Create the server's row if needed and hold it locked until the transaction ends."""
        await connection.execute(
            self._database.insert(guilds).values(guild_id=guild_id).on_conflict_do_nothing()
        )
        await connection.execute(
            select(guilds.c.guild_id).where(guilds.c.guild_id == guild_id).with_for_update()
        )
        if self._changes is not None:
            await self._changes.announce(connection, guild_id)

    @staticmethod
    async def _audit(
        connection: AsyncConnection,
        guild_id: int,
        actor_id: int,
        action: str,
        summary: str,
        before: Any,
        after: Any,
    ) -> None:
        await connection.execute(
            insert(audit_log).values(
                guild_id=guild_id,
                at=datetime.now(UTC),
                actor_id=actor_id,
                action=action,
                summary=summary,
                before=before,
                after=after,
            )
        )

    @staticmethod
    async def _write_panel(connection: AsyncConnection, guild_id: int, panel: Panel) -> None:
        await connection.execute(delete(personas).where(personas.c.guild_id == guild_id))
        if panel:
            await connection.execute(
                insert(personas),
                [
                    {
                        "guild_id": guild_id,
                        "position": position,
                        "name": persona.name,
                        "name_key": key(persona.name),
                        "emoji": persona.emoji,
                        "instructions": persona.instructions,
                        "colour": persona.colour,
                        "model": persona.model,
                        "grounded": persona.grounded,
                    }
                    for position, persona in enumerate(panel)
                ],
            )

    async def change_panel(
        self, guild_id: int, actor_id: int, action: str, change: PanelChange, summary: str = ""
    ) -> tuple[StoredPanel, StoredPanel]:
        async with self._database.write() as connection:
            await self._lock_guild(connection, guild_id)
            ticket = self._panels.begin_write(guild_id)
            before = await self._read_panel(connection, guild_id)
            after = StoredPanel(change(before.personas), is_default=False)
            await self._write_panel(connection, guild_id, after.personas)
            await self._audit(
                connection,
                guild_id,
                actor_id,
                action,
                summary or action,
                _panel_json(before),
                _panel_json(after),
            )
        return before, self._panels.end_write(guild_id, ticket, after)

    async def reset_panel(self, guild_id: int, actor_id: int) -> StoredPanel:
        async with self._database.write() as connection:
            await self._lock_guild(connection, guild_id)
            ticket = self._panels.begin_write(guild_id)
            before = await self._read_panel(connection, guild_id)
            await self._write_panel(connection, guild_id, ())
            await self._audit(
                connection,
                guild_id,
                actor_id,
                "reset",
                "reset to the default panel",
                _panel_json(before),
                None,
            )
        self._panels.end_write(guild_id, ticket, DEFAULT)
        return before

    async def set_moderator_role(self, guild_id: int, actor_id: int, role_id: int | None) -> GuildSettings:
        summary = f"moderator role set to {role_id}" if role_id else "moderator role cleared"
        return await self._change_settings(
            guild_id, actor_id, "moderator-role", summary, {"moderator_role_id": role_id}
        )

    async def set_retention(self, guild_id: int, actor_id: int, days: int | None) -> GuildSettings:
        summary = f"retention set to {days} days" if days else "retention cleared: debates are kept"
        return await self._change_settings(guild_id, actor_id, "retention", summary, {"retention_days": days})

    async def set_language(self, guild_id: int, actor_id: int, language: str | None) -> GuildSettings:
        summary = f"language set to {language}" if language else "language set to each asker's own"
        return await self._change_settings(guild_id, actor_id, "language", summary, {"language": language})

    async def update_settings(self, guild_id: int, actor_id: int, **changes: int | None) -> GuildSettings:
        unknown = set(changes) - set(LIMIT_COLUMNS)
        if unknown:
            raise ValueError(f"not settings: {sorted(unknown)}")
        summary = ", ".join(f"{name.replace('_', ' ')} set to {value}" for name, value in changes.items())
        return await self._change_settings(guild_id, actor_id, "settings", summary, changes)

    async def _change_settings(
        self,
        guild_id: int,
        actor_id: int,
        action: str,
        summary: str,
        changes: Mapping[str, int | str | None],
    ) -> GuildSettings:
        async with self._database.write() as connection:
            await self._lock_guild(connection, guild_id)
            ticket = self._settings.begin_write(guild_id)
            before = await self._read_settings(connection, guild_id)
            await connection.execute(update(guilds).where(guilds.c.guild_id == guild_id).values(**changes))
            after = await self._read_settings(connection, guild_id)
            await self._audit(
                connection,
                guild_id,
                actor_id,
                action,
                summary,
                {name: getattr(before, name) for name in changes},
                dict(changes),
            )
        return self._settings.end_write(guild_id, ticket, after)
