"""Connections and transactions: the engine for each database, reads and writes, and migrations.

SQLite (in WAL mode) lets any number of readers work beside one writer, so reads begin ``DEFERRED`` and
never wait for the write lock; writes begin ``IMMEDIATE``, taking that lock up front, so two writers
queue on the busy timeout instead of failing when one upgrades from reading to writing. PostgreSQL
needs neither: readers never wait for writers there, and writes lock the rows they change.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).parent.parent / "migrations"

#: The execution option that marks a connection's transactions as writes (SQLite: ``BEGIN IMMEDIATE``).
WRITE_OPTION = "parley_write"

#: How long opening a SQLite file waits for other connections to let it switch the file to WAL.
WAL_SWITCH_TIMEOUT_S = 10.0

#: The PostgreSQL advisory lock that lets one process at a time migrate a database ("Parley" in ASCII).
MIGRATION_LOCK_KEY = 0x5061726C6579


def make_engine(url: str, **options: Any) -> AsyncEngine:
    """An async engine; for SQLite with foreign keys, and reads that do not take the write lock.

    A SQLite file is switched to WAL once, by :meth:`Database.migrate` (the mode stays with the file).

    Every connection is used in a context manager that ends its transaction, so the pool's own reset
    (one more round trip, a thread hop with aiosqlite) is skipped: a fifth of each write's cost.
    """
    engine = create_async_engine(url, **{"pool_reset_on_return": None, **options})
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def configure(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # SQLAlchemy issues BEGIN itself, below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: safe against crashes of the bot, few fsyncs
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def begin(connection: Connection) -> None:
            write = connection.get_execution_options().get(WRITE_OPTION, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")

    return engine


def run_migrations(connection: Connection, revision: str = "head") -> None:
    """Upgrade the database on ``connection`` to ``revision`` with Alembic (no-op when already there).

    On PostgreSQL the transaction first takes an advisory lock, so that processes starting together on
    one database migrate one after the other (the later ones then find nothing to do); on SQLite the
    write transaction the caller began already does that.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


class Database:
    """One engine, and the two kinds of transaction the store runs on it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection whose transaction only reads: it never waits for a writer, and is rolled back."""
        return self.engine.connect()

    def write(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A write transaction, committed when the block ends without an error."""
        return self._writer.begin()

    def insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """An INSERT that can say what to do on conflict, in this database's dialect."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    async def migrate(self, revision: str = "head") -> None:
        """Bring the schema to ``revision``; on SQLite, first make sure the file is in WAL mode."""
        if self.dialect == "sqlite":
            await self._use_wal()
        async with self.write() as connection:
            await connection.run_sync(run_migrations, revision)

    async def _use_wal(self) -> None:
        """Switch the SQLite file to WAL, outside any transaction. Switching needs the file to itself,
        and while another connection holds a lock SQLite refuses at once, without its busy timeout: so
        processes creating one file together retry here until the first one is done."""
        statement = "PRAGMA journal_mode=WAL"
        deadline = time.monotonic() + WAL_SWITCH_TIMEOUT_S
        async with self.engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None, "a connection just checked out of the pool is open"
            while True:
                try:
                    await driver.execute(statement)
                    return
                except sqlite3.Error as error:
                    locked = isinstance(error, sqlite3.OperationalError) and "locked" in str(error)
                    if not locked or time.monotonic() > deadline:
                        # As SQLAlchemy would have raised it, had it run the statement.
                        raise DBAPIError.instance(statement, None, error, sqlite3.Error) from error
                await asyncio.sleep(0.02)

    async def close(self) -> None:
        await self.engine.dispose()
