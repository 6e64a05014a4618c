"""Shared fixtures: a database for every store test, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest

POSTGRES_DSN = os.environ.get("PARLEY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class Database:
    """Where a test's store lives: a SQLAlchemy URL and the engine options that isolate it."""

    url: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def dialect(self) -> str:
        return self.url.split("+", 1)[0].split(":", 1)[0]


async def connect_postgres() -> asyncpg.Connection:
    """A connection to the real PostgreSQL. Unreachable: a failure under CI, a visible skip elsewhere."""
    try:
        return await asyncpg.connect(POSTGRES_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        message = f"PostgreSQL is not reachable at {POSTGRES_DSN}: {error!r}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI must run the PostgreSQL tests)")
        pytest.skip(message)


async def _postgres_schema() -> tuple[asyncpg.Connection, str]:
    """A fresh schema on the real PostgreSQL (see :func:`connect_postgres` when it is unreachable)."""
    connection = await connect_postgres()
    schema = f"parley_test_{secrets.token_hex(6)}"
    await connection.execute(f'CREATE SCHEMA "{schema}"')
    return connection, schema


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty database of each kind; PostgreSQL runs get a schema of their own, dropped afterwards."""
    if request.param == "sqlite":
        yield Database(f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}")
        return
    connection, schema = await _postgres_schema()
    try:
        url = "postgresql+asyncpg://" + POSTGRES_DSN.split("://", 1)[1]
        yield Database(url, {"connect_args": {"server_settings": {"search_path": schema}}})
    finally:
        await connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await connection.close()
