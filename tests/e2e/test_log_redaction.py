"""At DEBUG, discord.py logs whole gateway payloads and webhook URLs: no token or key may reach the log."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.logs import REDACTED, RedactingFilter
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    bot_environment,
    run_debate_command,
    running_parley,
    start_bot,
    stop_bot,
)
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_gemini import FakeGemini, Reply

pytestmark = pytest.mark.e2e

QUESTION = "Should the Rebellion have negotiated?"
DEBUG_LOGGERS = ("", "discord", "discord.gateway", "discord.http", "aiohttp", "google_genai")
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=GEMINI_KEY) as fake:
        fake.script("You are Rebel Pilot,", Reply("Red Five, standing by."))
        yield fake


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=DISCORD_TOKEN) as fake:
        fake.add_guild("Redaction Guild")
        yield fake


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """Everything logged at DEBUG, as two texts: raw, then through the redacting filter.

    The raw handler goes on ``discord``, whose handlers run before the root's, so it sees each record
    before the filter rewrites it; it only shows that the payload logging really exposes the token.
    """
    raw, redacted = io.StringIO(), io.StringIO()
    raw_handler, redacting_handler = logging.StreamHandler(raw), logging.StreamHandler(redacted)
    for handler in (raw_handler, redacting_handler):
        handler.setFormatter(logging.Formatter(FORMAT))
    redacting_handler.addFilter(RedactingFilter([DISCORD_TOKEN, GEMINI_KEY]))
    loggers = [logging.getLogger(name) for name in DEBUG_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    logging.getLogger("discord").addHandler(raw_handler)
    logging.getLogger().addHandler(redacting_handler)
    try:
        yield raw, redacted
    finally:
        logging.getLogger().removeHandler(redacting_handler)
        logging.getLogger("discord").removeHandler(raw_handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


async def test_a_debate_at_debug_logs_its_payloads_but_no_token_or_key(
    discord_fake: FakeDiscord, gemini: FakeGemini, captured: tuple[io.StringIO, io.StringIO]
) -> None:
    raw, redacted = captured
    async with running_parley(discord_fake, gemini):
        run = await run_debate_command(discord_fake, QUESTION)
    assert "✅ done in" in run.status
    interaction_token = run.interaction.token

    assert interaction_token in raw.getvalue(), "discord.py's DEBUG logging exposes the interaction token"
    text = redacted.getvalue()
    for secret in (DISCORD_TOKEN, GEMINI_KEY, interaction_token):
        assert secret not in text
    assert len(text) > 20_000
    events = [line for line in text.splitlines() if "DEBUG   discord.gateway:" in line]
    assert any("INTERACTION_CREATE" in line and f"'token': '{REDACTED}'" in line for line in events)
    assert f"/interactions/{run.interaction.id}/{REDACTED}/callback" in text
    assert f"/webhooks/{discord_fake.application_id}/{REDACTED}/messages/@original" in text


async def test_python_m_bot_at_debug_logs_no_token_or_key(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    async with FakeGemini(api_key=GEMINI_KEY) as gemini, FakeDiscord(token=DISCORD_TOKEN) as discord:
        discord.add_guild("Subprocess Guild")
        environment = bot_environment(
            discord, gemini, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", LOG_LEVEL="DEBUG"
        )
        process = await start_bot(environment, tmp_path, log)
        try:
            run = await run_debate_command(discord, QUESTION)
            assert "✅ done in" in run.status
        finally:
            returncode = await stop_bot(process)
    output = log.read_text()
    assert returncode == 0, output
    for secret in (DISCORD_TOKEN, GEMINI_KEY, run.interaction.token):
        assert secret not in output
    assert " DEBUG   discord.gateway: " in output
    assert f"'token': '{REDACTED}'" in output
    assert f"/interactions/{run.interaction.id}/{REDACTED}/callback" in output
