"""Observability through the fakes: ``/metrics`` (METRICS_PORT) after one debate, two at once and a failing
persona; ``debate=<id>`` on the lines a debate logs; ``/parley status`` for moderators only."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterator

import pytest

from bot.client import ParleyBot
from bot.logs import LOG_FORMAT, DebateFilter
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    free_port,
    persona_calls,
    run,
    run_debate_command,
    running_parley,
    scrape_metrics,
    verdict_calls,
)
from tests.e2e.test_personas import make_server
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_gemini import FakeGemini, Fault

pytestmark = pytest.mark.e2e

REFUSAL = "Only moderators can do this: it needs the **Manage Server** permission"


def shard_of(guild_id: int, shard_count: int) -> str:
    return str((guild_id >> 22) % shard_count)


class Lines(logging.Handler):
    """The log lines as ``python -m bot`` formats them (the debate filter included)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.addFilter(DebateFilter())
        self.setFormatter(logging.Formatter(LOG_FORMAT))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger("bot")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_metrics_count_debates_latency_tokens_and_gemini_errors_by_shard(log_lines: Lines) -> None:
    port = free_port()
    async with (
        FakeGemini(api_key=GEMINI_KEY) as gemini,
        FakeDiscord(token=DISCORD_TOKEN, shard_count=2) as discord,
    ):
        guild = discord.add_guild("Metrics Guild")
        shard = shard_of(guild.id, 2)
        async with running_parley(discord, gemini, METRICS_PORT=str(port)) as bot:
            before = await scrape_metrics(port)
            assert before.content_type.startswith("text/plain; version=")
            assert before.value("parley_debates_total") == 0

            first = await run_debate_command(discord, "Is a metric worth a thousand logs?")
            assert "✅ done in" in first.status
            one = await scrape_metrics(port)
            assert one.value("parley_debates_total", outcome="started", shard=shard) == 1
            assert one.value("parley_debates_total", outcome="finished", shard=shard) == 1
            assert one.value("parley_debates_running", shard=shard) == 0
            personas, verdicts = len(persona_calls(gemini)), len(verdict_calls(gemini))
            assert one.value("parley_persona_latency_seconds_count", shard=shard) == personas == 4
            assert one.value("parley_persona_latency_seconds_sum", shard=shard) > 0
            assert one.value("parley_verdict_latency_seconds_count", shard=shard) == verdicts == 1
            assert one.value("parley_tokens_total", role="persona", shard=shard) > 0
            assert one.value("parley_tokens_total", role="verdict", shard=shard) > 0
            assert {labels["shard"] for labels in one.labels("parley_debates_total")} == {shard}

            # Two at once: both counted, both out of flight again.
            await asyncio.gather(
                run_debate_command(discord, "Should dashboards be public?"),
                run_debate_command(discord, "Should alerts page at night?"),
            )
            three = await scrape_metrics(port)
            assert three.value("parley_debates_total", outcome="started", shard=shard) == 3
            assert three.value("parley_debates_total", outcome="finished", shard=shard) == 3
            assert three.value("parley_debates_running") == 0
            assert three.value("parley_persona_latency_seconds_count") == len(persona_calls(gemini)) == 12

            # A persona Gemini refuses (its quota spent for the day): the error is counted by code and kind,
            # and the line the Gemini client logs inside the debate names the debate.
            gemini.script("You are Imperial Officer,", Fault.quota_exhausted_today())
            await run_debate_command(discord, "Can quotas be fair?")  # the fourth debate recorded
            after = await scrape_metrics(port)
            errors = after.value(
                "parley_gemini_errors_total", code="429", kind="quota_exhausted", shard=shard
            )
            assert errors == 1
            assert after.value("parley_debates_total", outcome="started", shard=shard) == 4
            assert after.value("parley_debates_running") == 0
            assert bot.debates.running_count == 0
    refused = [line for line in log_lines.lines if "bot.gemini" in line and "attempt 1: 429" in line]
    assert len(refused) == 1
    assert " bot.gemini debate=4: " in refused[0]
    (ready,) = [line for line in log_lines.lines if "ready as" in line]
    assert " bot.client: ready as" in ready  # no debate's line


async def test_parley_status_shows_moderators_version_uptime_latency_and_usage() -> None:
    async with (
        FakeGemini(api_key=GEMINI_KEY) as gemini,
        FakeDiscord(token=DISCORD_TOKEN, shard_count=2, heartbeat_interval_ms=200) as discord,
    ):
        server = make_server(discord, "Status Guild")
        async with running_parley(discord, gemini, DAILY_TOKEN_BUDGET="100000") as bot:
            await run_debate_command(discord, "Is uptime a virtue?", guild=server.guild, member=server.member)
            used = await bot.admission.tokens_today(server.guild.id)
            assert used > 0
            await _heartbeats_acknowledged(bot)
            await run(discord, "parley moderator-role", server.owner, server.guild, role=server.mods.id)

            answer = await run(discord, "parley status", server.moderator, server.guild)
            assert answer["flags"] & 64  # ephemeral
            assert "embeds" in answer, answer
            (embed,) = answer["embeds"]
            assert embed["title"] == "Parley status"
            fields = {field["name"]: field["value"] for field in embed["fields"]}
            assert fields["Version"] == "0.1.0"
            hours, minutes, seconds = (int(part) for part in fields["Uptime"].split(":"))
            assert hours * 3600 + minutes * 60 + seconds < 120  # h:mm:ss since this bot started
            assert fields["Shards"] == "0, 1 of 2"
            latencies = fields["Gateway latency"].splitlines()
            assert [line.split(":")[0] for line in latencies] == ["shard 0", "shard 1"]
            assert all(line.endswith(" ms") for line in latencies)
            assert fields["Debates running in this process"] == "0"
            assert fields["Gemini tokens today"] == f"{used:,} of 100,000"

            # in French, for a moderator whose client speaks it
            french = await run(discord, "parley status", server.moderator, server.guild, locale="fr")
            (embed,) = french["embeds"]
            assert embed["title"] == "État de Parley"
            assert [field["name"] for field in embed["fields"]][1] == "En marche depuis"

            refused = await run(discord, "parley status", server.member, server.guild)
            assert refused["content"].startswith(REFUSAL)
            assert refused["flags"] & 64
            assert "embeds" not in refused or not refused["embeds"]


async def _heartbeats_acknowledged(bot: ParleyBot) -> None:
    """Wait until every shard has a measured gateway latency."""
    async with asyncio.timeout(10):
        while True:
            if all(math.isfinite(latency) for _shard, latency in bot.latencies):
                return
            await asyncio.sleep(0.05)
