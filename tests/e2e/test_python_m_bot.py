"""``python -m bot`` in its own process, configured only by the contract's environment variables."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    bot_environment,
    persona_calls,
    run_debate_command,
    verdict_calls,
)
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_gemini import FakeGemini, Reply

pytestmark = pytest.mark.e2e


async def wait_for_line(log: Path, text: str, process: asyncio.subprocess.Process, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while text not in (output := await asyncio.to_thread(log.read_text)):
            if process.returncode is not None:
                raise AssertionError(f"the bot exited with {process.returncode}:\n{output}")
            await asyncio.sleep(0.05)


async def test_python_m_bot_runs_a_debate_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    async with FakeGemini(api_key=GEMINI_KEY) as gemini, FakeDiscord(token=DISCORD_TOKEN) as discord:
        discord.add_guild("Subprocess Guild")
        gemini.script("You are Rebel Pilot,", Reply("Red Five, standing by.", latency=0.2))
        environment = bot_environment(
            discord, gemini, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
        )
        with log.open("w") as log_file:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", cwd=tmp_path, env=environment, stdout=log_file, stderr=log_file
            )
        try:
            await wait_for_line(log, "ready as", process, 30)
            run = await run_debate_command(discord, "Should the Rebellion have negotiated?")
            assert run.interaction.ack_type == 5
            assert run.text_of("🚀 Rebel Pilot") == "Red Five, standing by."
            assert len(run.titled()) == 5
            assert len(persona_calls(gemini)) == 4
            assert len(verdict_calls(gemini)) == 1
            assert "✅ done in" in run.status
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            returncode = await asyncio.wait_for(process.wait(), 15)
    output = log.read_text()
    assert returncode == 0, output
    assert "Traceback" not in output
    assert DISCORD_TOKEN not in output
    assert GEMINI_KEY not in output
