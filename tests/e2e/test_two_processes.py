"""Two ``python -m bot`` processes, one shard each, starting at the same moment on one fresh PostgreSQL
database: both migrate it (one after the other), both come up, and each runs its guild's debates."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_DSN, connect_postgres
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    bot_environment,
    recorded_debate,
    run_debate_command,
    start_bot,
    stop_bot,
)
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_gemini import FakeGemini, Reply

pytestmark = pytest.mark.e2e


@contextlib.asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """The SQLAlchemy URL of a new, empty PostgreSQL database, dropped afterwards."""
    admin = await connect_postgres()
    name = f"parley_e2e_{secrets.token_hex(6)}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        server = POSTGRES_DSN.split("://", 1)[1].rsplit("/", 1)[0]
        yield f"postgresql+asyncpg://{server}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_two_processes_starting_together_on_a_fresh_postgresql_both_serve_their_shard(
    tmp_path: Path,
) -> None:
    logs = [tmp_path / "shard-0.log", tmp_path / "shard-1.log"]
    async with (
        fresh_postgres_database() as database_url,
        FakeGemini(api_key=GEMINI_KEY) as gemini,
        FakeDiscord(token=DISCORD_TOKEN, shard_count=2) as discord,
    ):
        guilds = [discord.add_guild(f"Shard {shard} Guild", shard_id=shard) for shard in (0, 1)]
        gemini.script("You are Rebel Pilot,", Reply("Red Five, standing by.", latency=0.1))
        environment = bot_environment(discord, gemini, DATABASE_URL=database_url, SHARD_COUNT="2")
        started = await asyncio.gather(
            *(
                start_bot({**environment, "SHARD_IDS": str(shard)}, tmp_path, log)
                for shard, log in enumerate(logs)
            ),
            return_exceptions=True,
        )
        processes = [process for process in started if isinstance(process, asyncio.subprocess.Process)]
        try:
            assert len(processes) == 2, [repr(error) for error in started if isinstance(error, BaseException)]
            runs = await asyncio.gather(
                *(run_debate_command(discord, f"Hold {guild.name}?", guild=guild) for guild in guilds)
            )
        finally:
            returncodes = [await stop_bot(process) for process in processes]
        sessions = [session.identify["shard"] for session in discord.gateway.sessions.values()]
        recorded = [await recorded_debate(database_url, f"Hold {guild.name}?") for guild in guilds]
    outputs = [log.read_text() for log in logs]
    assert returncodes == [0, 0], outputs
    for output in outputs:
        assert "ready as" in output
        assert "Traceback" not in output, output
    assert sorted(sessions) == [[0, 2], [1, 2]]
    for run, record in zip(runs, recorded, strict=True):
        assert "✅ done in" in run.status
        assert run.text_of("🚀 Rebel Pilot") == "Red Five, standing by."
        assert record.status == "done"
        assert record.replies["Rebel Pilot"] == ("Red Five, standing by.", None)
