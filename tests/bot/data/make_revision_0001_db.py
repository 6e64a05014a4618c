"""Rebuilds parley-revision-0001.db: a database as revision 0001 left it, with one server's panel.

Run once from the project root (``.venv/bin/python tests/bot/data/make_revision_0001_db.py``); the file is
committed so that migration tests upgrade a real old database, not one made by today's code.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from bot.store import make_engine, run_migrations

TARGET = Path(__file__).with_name("parley-revision-0001.db")
ROWS = [
    ("Judge", "⚖️", "You are an impartial judge who weighs the evidence.", 0x8E44AD, "gemini-3.5-flash"),
    ("Prosecutor", "🔎", "You are a prosecutor who argues for conviction.", 0xC0392B, None),
    ("Defender", "🛡️", "You are a defence lawyer who protects the accused.", 0x2980B9, None),
]


async def main() -> None:
    TARGET.unlink(missing_ok=True)
    engine = make_engine(f"sqlite+aiosqlite:///{TARGET}")
    async with engine.begin() as connection:
        await connection.run_sync(run_migrations, "0001")
        await connection.exec_driver_sql("INSERT INTO guilds (guild_id) VALUES (424242)")
        for position, (name, emoji, instructions, colour, model) in enumerate(ROWS):
            await connection.exec_driver_sql(
                "INSERT INTO personas (guild_id, position, name, name_key, emoji, instructions, colour,"
                " model) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (424242, position, name, name.casefold(), emoji, instructions, colour, model),
            )
    await engine.dispose()
    with contextlib.closing(sqlite3.connect(TARGET)) as plain:
        plain.execute("PRAGMA journal_mode=DELETE")  # fold the WAL in: one self-contained file


if __name__ == "__main__":
    asyncio.run(main())
