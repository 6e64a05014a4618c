"""Durable panels, settings, audit log, debate records and token usage, on SQLAlchemy async (SQLite by
default, or PostgreSQL).

``schema`` holds the tables, ``engine`` the connections, transactions and migrations, ``panels`` the
panels and settings (behind the ``cache``), ``records`` the debates and usage, ``votes`` the crowd's
votes on them, ``privacy`` what deletes them; :class:`Store` is all of these.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.engine import Database, make_engine, run_migrations
from bot.store.panels import Panels
from bot.store.privacy import Privacy
from bot.store.schema import (
    audit_log,
    debate_replies,
    debate_votes,
    debates,
    guilds,
    metadata,
    personas,
    token_usage,
)
from bot.store.votes import Votes

__all__ = [
    "Database",
    "Store",
    "audit_log",
    "debate_replies",
    "debate_votes",
    "debates",
    "guilds",
    "make_engine",
    "metadata",
    "personas",
    "run_migrations",
    "token_usage",
]


class Store(Privacy, Votes):
    """The :class:`~bot.core.records.Storage` on SQLAlchemy: panels, records and their deletion sharing
    one engine."""

    def __init__(
        self, engine: AsyncEngine, *, cache_ttl_s: float = 15.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        database = Database(engine)
        Panels.__init__(self, database, cache_ttl_s=cache_ttl_s, clock=clock)
        Votes.__init__(self, database)

    @classmethod
    async def open(cls, url: str, **engine_options: Any) -> Store:
        """Connect to ``url``, bring the schema to the newest revision, and return the store."""
        store = cls(make_engine(url, **engine_options))
        try:
            await store.migrate()
            await store.share_changes()
        except BaseException:
            await store.close()
            raise
        return store

    async def migrate(self, revision: str = "head") -> None:
        await self._database.migrate(revision)

    async def close(self) -> None:
        await self.stop_sharing_changes()
        await self._database.close()
