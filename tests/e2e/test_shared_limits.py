"""Two ``python -m bot`` processes (one shard each) with one ``REDIS_URL`` and ``GEMINI_MAX_CONCURRENCY=2``,
debating at once against one Gemini: together they never have more than two calls in flight. Redis
killed mid-run: both finish their debates on per-process limits, say so once, and share again once
Redis is back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    DebateRun,
    bot_environment,
    run_debate_command,
    start_bot,
    stop_bot,
    wait_for_line,
)
from tests.fakes.fake_discord import FakeDiscord, FakeGuild
from tests.fakes.fake_gemini import FakeGemini, Reply
from tests.redis_server import private_redis

pytestmark = pytest.mark.e2e

PERSONAS = ("Rebel Pilot", "Imperial Officer", "Smuggler", "Jedi Master")
LOST = "is unreachable"
SHARED_AGAIN = "limits are shared again"


@contextlib.asynccontextmanager
async def two_bots(
    discord: FakeDiscord, gemini: FakeGemini, redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[list[FakeGuild], list[Path], list[asyncio.subprocess.Process]]]:
    """Two bot processes, shard 0 and shard 1, each with its own SQLite file, sharing ``redis_url``;
    yields each shard's guild, log and process, and stops them (each must exit 0)."""
    guilds = [discord.add_guild(f"Shard {shard} Guild", shard_id=shard) for shard in (0, 1)]
    logs = [tmp_path / f"shard-{shard}.log" for shard in (0, 1)]
    environment = bot_environment(
        discord, gemini, REDIS_URL=redis_url, GEMINI_MAX_CONCURRENCY="2", SHARD_COUNT="2"
    )
    started = await asyncio.gather(
        *(
            start_bot(
                {
                    **environment,
                    "SHARD_IDS": str(shard),
                    "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/shard-{shard}.db",
                },
                tmp_path,
                log,
            )
            for shard, log in enumerate(logs)
        ),
        return_exceptions=True,
    )
    processes = [process for process in started if isinstance(process, asyncio.subprocess.Process)]
    try:
        assert len(processes) == 2, [repr(error) for error in started if isinstance(error, BaseException)]
        yield guilds, logs, processes
    finally:
        returncodes = [await stop_bot(process) for process in processes]
    assert returncodes == [0, 0], [log.read_text() for log in logs]


async def debates_in_both(discord: FakeDiscord, guilds: list[FakeGuild], each: int) -> list[DebateRun]:
    """``each`` debates at once in each shard's guild; every one of them run to its end."""
    return await asyncio.gather(
        *(
            run_debate_command(discord, f"Debate {number} in {guild.name}?", guild=guild)
            for guild in guilds
            for number in range(each)
        )
    )


def assert_all_done(runs: list[DebateRun]) -> None:
    for run in runs:
        assert "✅ done in" in run.status, run.status
        assert run.text_of("🚀 Rebel Pilot") == "Red Five, standing by."


async def test_two_processes_sharing_redis_hold_two_gemini_calls_in_flight_together(tmp_path: Path) -> None:
    async with (
        private_redis(tmp_path) as redis,
        FakeGemini(api_key=GEMINI_KEY) as gemini,
        FakeDiscord(token=DISCORD_TOKEN, shard_count=2) as discord,
    ):
        gemini.script(lambda call: call.system_text.startswith("You are "), Reply("Noted.", latency=0.2))
        gemini.script("You are Rebel Pilot,", Reply("Red Five, standing by.", latency=0.2))
        async with two_bots(discord, gemini, redis.url, tmp_path) as (guilds, logs, _):
            runs = await debates_in_both(discord, guilds, 2)
    assert_all_done(runs)
    assert len(gemini.calls) == 4 * (len(PERSONAS) + 1)
    # Each process alone would have had two calls in flight, four together.
    assert gemini.most_in_flight == 2
    for log in logs:
        output = log.read_text()
        assert f"limits shared through Redis at 127.0.0.1:{redis.port}" in output
        assert LOST not in output
        assert "Traceback" not in output, output


async def test_redis_killed_mid_run_leaves_both_bots_debating_alone_until_it_is_back(tmp_path: Path) -> None:
    async with (
        private_redis(tmp_path) as redis,
        FakeGemini(api_key=GEMINI_KEY) as gemini,
        FakeDiscord(token=DISCORD_TOKEN, shard_count=2) as discord,
    ):
        gemini.script(lambda call: call.system_text.startswith("You are "), Reply("Noted.", latency=0.5))
        gemini.script("You are Rebel Pilot,", Reply("Red Five, standing by.", latency=0.5))
        async with two_bots(discord, gemini, redis.url, tmp_path) as (guilds, logs, processes):
            debating = asyncio.create_task(debates_in_both(discord, guilds, 2))
            await gemini.wait_for_calls(2)
            await redis.stop()
            runs = await debating
            assert_all_done(runs)
            for log, process in zip(logs, processes, strict=True):
                await wait_for_line(log, LOST, process, 5)

            await redis.start()  # on its port again, empty: it kept nothing
            for log, process in zip(logs, processes, strict=True):
                await wait_for_line(log, SHARED_AGAIN, process, 10)
            gemini.most_in_flight = 0
            again = await debates_in_both(discord, guilds, 1)
    assert_all_done(again)
    assert gemini.most_in_flight == 2
    for log in logs:
        output = log.read_text()
        assert output.count(LOST) == 1, output  # one warning, not one per request
        assert output.count(SHARED_AGAIN) == 1, output
        assert "Traceback" not in output, output
