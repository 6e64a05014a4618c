"""Durable panels, settings and the audit log, on SQLAlchemy async (SQLite by default, or PostgreSQL).

Every write runs in one transaction that first locks the server's row (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite transactions begin ``IMMEDIATE``), so concurrent changes, from this process or
another one sharing the database, apply one after the other and none is lost. Reads of the panel and
settings are served from an in-process cache: a write refreshes this process's entry at once, and
entries expire after ``cache_ttl_s`` so other processes' writes show up soon after.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.core.debate import DebateStats, PersonaFailure, PersonaReply
from bot.core.panel import (
    DEFAULT,
    AuditEntry,
    GuildSettings,
    Panel,
    PanelChange,
    StoredPanel,
    key,
    persona_from_json,
    persona_json,
)
from bot.core.personas import Persona
from bot.core.records import DebateStatus, StoredReply, UnfinishedDebate

MIGRATIONS = Path(__file__).with_name("migrations")
T = TypeVar("T")

metadata = MetaData()

guilds = Table(
    "guilds",
    metadata,
    Column("guild_id", BigInteger, primary_key=True, autoincrement=False),
    Column("moderator_role_id", BigInteger, nullable=True),
    Column("cooldown_s", Integer, nullable=True),
    Column("max_debates", Integer, nullable=True),
    Column("daily_token_budget", BigInteger, nullable=True),
)
LIMIT_COLUMNS = ("cooldown_s", "max_debates", "daily_token_budget")

personas = Table(
    "personas",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("guild_id", BigInteger, ForeignKey("guilds.guild_id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("name", String(64), nullable=False),
    Column("name_key", String(64), nullable=False),
    Column("emoji", String(100), nullable=False),
    Column("instructions", Text, nullable=False),
    Column("colour", Integer, nullable=False),
    Column("model", String(100), nullable=True),
    UniqueConstraint("guild_id", "name_key", name="uq_personas_guild_name"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("guild_id", BigInteger, nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor_id", BigInteger, nullable=False),
    Column("action", String(32), nullable=False),
    Column("summary", Text, nullable=False),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
)


token_usage = Table(
    "token_usage",
    metadata,
    Column("guild_id", BigInteger, primary_key=True, autoincrement=False),
    Column("day", Date, primary_key=True),
    Column("tokens", BigInteger, nullable=False),
)

debates = Table(
    "debates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("guild_id", BigInteger, nullable=False),
    Column("channel_id", BigInteger, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("question", Text, nullable=False),
    Column("panel", JSON, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("status_message_id", BigInteger, nullable=True),
    Column("posts_channel_id", BigInteger, nullable=True),
    Column("verdict", Text, nullable=True),
    Column("outcome", Text, nullable=True),
    Column("wall_s", Float, nullable=True),
    Column("persona_sum_s", Float, nullable=True),
    Column("verdict_s", Float, nullable=True),
    Column("tokens", BigInteger, nullable=True),
    Column("run_id", String(32), nullable=True),
)

debate_replies = Table(
    "debate_replies",
    metadata,
    Column("debate_id", Integer, ForeignKey("debates.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("persona", String(64), nullable=False),
    Column("text", Text, nullable=True),
    Column("failure", Text, nullable=True),
    Column("cut_off", Boolean, nullable=False),
    Column("latency_s", Float, nullable=False),
    Column("tokens", Integer, nullable=False),
)


def make_engine(url: str, **options: Any) -> AsyncEngine:
    """An async engine; for SQLite with WAL, foreign keys, and write-ready (``IMMEDIATE``) transactions.

    Every connection is used in a context manager that ends its transaction, so the pool's own reset
    (one more round trip, a thread hop with aiosqlite) is skipped: a fifth of each write's cost.
    """
    engine = create_async_engine(url, **{"pool_reset_on_return": None, **options})
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def configure(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # SQLAlchemy issues BEGIN itself, below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: safe against crashes of the bot, few fsyncs
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def run_migrations(connection: Connection, revision: str = "head") -> None:
    """Upgrade the database on ``connection`` to ``revision`` with Alembic (no-op when already there)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _persona(row: Any) -> Persona:
    return Persona(row.name, row.emoji, row.instructions, row.colour, row.model)


def _panel_json(panel: StoredPanel) -> list[dict[str, Any]] | None:
    return None if panel.is_default else [persona_json(persona) for persona in panel.personas]


class Store:
    """The :class:`~bot.core.panel.PanelStore` and :class:`~bot.core.records.DebateStore` on SQLAlchemy."""

    def __init__(
        self, engine: AsyncEngine, *, cache_ttl_s: float = 15.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._engine = engine
        self._cache_ttl_s = cache_ttl_s
        self._clock = clock
        self._panels: dict[int, tuple[float, StoredPanel]] = {}
        self._settings: dict[int, tuple[float, GuildSettings]] = {}

    @classmethod
    async def open(cls, url: str, **engine_options: Any) -> Store:
        """Connect to ``url``, bring the schema to the newest revision, and return the store."""
        store = cls(make_engine(url, **engine_options))
        try:
            await store.migrate()
        except BaseException:
            await store.close()
            raise
        return store

    async def migrate(self, revision: str = "head") -> None:
        async with self._engine.begin() as connection:
            await connection.run_sync(run_migrations, revision)

    async def close(self) -> None:
        await self._engine.dispose()

    # -- reads ------------------------------------------------------------------------------------

    def _fresh(self, cache: dict[int, tuple[float, T]], guild_id: int) -> T | None:
        hit = cache.get(guild_id)
        return hit[1] if hit is not None and hit[0] > self._clock() else None

    def _remember(self, cache: dict[int, tuple[float, T]], guild_id: int, value: T) -> T:
        cache[guild_id] = (self._clock() + self._cache_ttl_s, value)
        return value

    async def panel(self, guild_id: int) -> StoredPanel:
        cached = self._fresh(self._panels, guild_id)
        if cached is not None:
            return cached
        async with self._engine.connect() as connection:
            return self._remember(self._panels, guild_id, await self._read_panel(connection, guild_id))

    async def settings(self, guild_id: int) -> GuildSettings:
        cached = self._fresh(self._settings, guild_id)
        return cached if cached is not None else await self._refresh_settings(guild_id)

    async def audit_log(self, guild_id: int, limit: int = 20) -> list[AuditEntry]:
        query = (
            select(audit_log)
            .where(audit_log.c.guild_id == guild_id)
            .order_by(audit_log.c.id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as connection:
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
        )

    # -- writes -----------------------------------------------------------------------------------

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """An INSERT that can say what to do on conflict, in this database's dialect."""
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    async def _lock_guild(self, connection: AsyncConnection, guild_id: int) -> None:
        """Create the server's row if needed and hold it locked until the transaction ends."""
        await connection.execute(self._insert(guilds).values(guild_id=guild_id).on_conflict_do_nothing())
        await connection.execute(
            select(guilds.c.guild_id).where(guilds.c.guild_id == guild_id).with_for_update()
        )

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
                    }
                    for position, persona in enumerate(panel)
                ],
            )

    async def change_panel(
        self, guild_id: int, actor_id: int, action: str, change: PanelChange, summary: str = ""
    ) -> tuple[StoredPanel, StoredPanel]:
        async with self._engine.begin() as connection:
            await self._lock_guild(connection, guild_id)
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
        self._remember(self._panels, guild_id, after)
        return before, after

    async def reset_panel(self, guild_id: int, actor_id: int) -> StoredPanel:
        async with self._engine.begin() as connection:
            await self._lock_guild(connection, guild_id)
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
        self._remember(self._panels, guild_id, DEFAULT)
        return before

    async def set_moderator_role(self, guild_id: int, actor_id: int, role_id: int | None) -> GuildSettings:
        async with self._engine.begin() as connection:
            await self._lock_guild(connection, guild_id)
            before = await self._read_settings(connection, guild_id)
            await connection.execute(
                update(guilds).where(guilds.c.guild_id == guild_id).values(moderator_role_id=role_id)
            )
            summary = f"moderator role set to {role_id}" if role_id else "moderator role cleared"
            await self._audit(
                connection,
                guild_id,
                actor_id,
                "moderator-role",
                summary,
                {"moderator_role_id": before.moderator_role_id},
                {"moderator_role_id": role_id},
            )
        return await self._refresh_settings(guild_id)

    async def _refresh_settings(self, guild_id: int) -> GuildSettings:
        async with self._engine.connect() as connection:
            return self._remember(self._settings, guild_id, await self._read_settings(connection, guild_id))

    async def update_settings(self, guild_id: int, actor_id: int, **changes: int | None) -> GuildSettings:
        unknown = set(changes) - set(LIMIT_COLUMNS)
        if unknown:
            raise ValueError(f"not settings: {sorted(unknown)}")
        async with self._engine.begin() as connection:
            await self._lock_guild(connection, guild_id)
            before = await self._read_settings(connection, guild_id)
            await connection.execute(update(guilds).where(guilds.c.guild_id == guild_id).values(**changes))
            summary = ", ".join(f"{name.replace('_', ' ')} set to {value}" for name, value in changes.items())
            await self._audit(
                connection,
                guild_id,
                actor_id,
                "settings",
                summary,
                {name: getattr(before, name) for name in changes},
                dict(changes),
            )
        return await self._refresh_settings(guild_id)

    # -- debates and usage ------------------------------------------------------------------------

    async def begin_debate(
        self,
        *,
        guild_id: int,
        channel_id: int,
        user_id: int,
        question: str,
        panel: tuple[Persona, ...],
        run_id: str | None = None,
    ) -> int:
        async with self._engine.begin() as connection:
            result = await connection.execute(
                insert(debates)
                .returning(debates.c.id)
                .values(
                    guild_id=guild_id,
                    channel_id=channel_id,
                    user_id=user_id,
                    question=question,
                    panel=[persona_json(persona) for persona in panel],
                    status=DebateStatus.RUNNING.value,
                    started_at=datetime.now(UTC),
                    run_id=run_id,
                )
            )
        return int(result.scalar_one())

    async def locate_debate(
        self, debate_id: int, *, status_message_id: int, posts_channel_id: int | None
    ) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                update(debates)
                .where(debates.c.id == debate_id)
                .values(status_message_id=status_message_id, posts_channel_id=posts_channel_id)
            )

    async def record_reply(
        self, debate_id: int, position: int, persona: Persona, outcome: PersonaReply | PersonaFailure
    ) -> None:
        reply = outcome if isinstance(outcome, PersonaReply) else None
        async with self._engine.begin() as connection:
            await connection.execute(
                insert(debate_replies).values(
                    debate_id=debate_id,
                    position=position,
                    persona=persona.name,
                    text=reply.text if reply else None,
                    failure=outcome.reason if isinstance(outcome, PersonaFailure) else None,
                    cut_off=bool(reply and reply.cut_off),
                    latency_s=outcome.latency_s,
                    tokens=outcome.usage.total,
                )
            )

    async def end_debate(
        self,
        debate_id: int,
        status: DebateStatus,
        outcome: str,
        *,
        verdict: str | None,
        stats: DebateStats | None,
    ) -> None:
        figures = (
            {}
            if stats is None
            else {
                "wall_s": stats.wall_s,
                "persona_sum_s": stats.persona_sum_s,
                "verdict_s": stats.verdict_s,
                "tokens": stats.usage.total,
            }
        )
        async with self._engine.begin() as connection:
            await connection.execute(
                update(debates)
                .where(debates.c.id == debate_id)
                .values(
                    status=status.value,
                    outcome=outcome,
                    verdict=verdict,
                    finished_at=datetime.now(UTC),
                    **figures,
                )
            )

    async def unfinished_debates(self, *, not_of_run: str | None = None) -> list[UnfinishedDebate]:
        answered = (
            select(func.count())
            .select_from(debate_replies)
            .where(debate_replies.c.debate_id == debates.c.id)
            .scalar_subquery()
        )
        query = select(debates, answered.label("answered")).where(
            debates.c.status == DebateStatus.RUNNING.value
        )
        if not_of_run is not None:
            query = query.where(or_(debates.c.run_id.is_(None), debates.c.run_id != not_of_run))
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query.order_by(debates.c.id))).all()
        return [
            UnfinishedDebate(
                id=row.id,
                guild_id=row.guild_id,
                channel_id=row.channel_id,
                status_message_id=row.status_message_id,
                posts_channel_id=row.posts_channel_id,
                question=row.question,
                panel=tuple(persona_from_json(persona) for persona in row.panel),
                answered=row.answered,
            )
            for row in rows
        ]

    async def debate_replies(self, debate_id: int) -> list[StoredReply]:
        query = (
            select(debate_replies)
            .where(debate_replies.c.debate_id == debate_id)
            .order_by(debate_replies.c.position)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [StoredReply(row.position, row.persona, row.text, row.failure) for row in rows]

    async def debate_status(self, debate_id: int) -> DebateStatus | None:
        async with self._engine.connect() as connection:
            value = (
                await connection.execute(select(debates.c.status).where(debates.c.id == debate_id))
            ).scalar()
        return None if value is None else DebateStatus(value)

    async def tokens_used(self, guild_id: int, day: date) -> int:
        query = select(token_usage.c.tokens).where(
            token_usage.c.guild_id == guild_id, token_usage.c.day == day
        )
        async with self._engine.connect() as connection:
            return int((await connection.execute(query)).scalar() or 0)

    async def add_tokens(self, guild_id: int, day: date, tokens: int) -> int:
        statement = self._insert(token_usage).values(guild_id=guild_id, day=day, tokens=tokens)
        statement = statement.on_conflict_do_update(
            index_elements=["guild_id", "day"], set_={"tokens": token_usage.c.tokens + tokens}
        )
        async with self._engine.begin() as connection:
            await connection.execute(statement)
            total = await connection.execute(
                select(token_usage.c.tokens).where(
                    token_usage.c.guild_id == guild_id, token_usage.c.day == day
                )
            )
            return int(total.scalar() or 0)
