"""The metrics object (a registry of its own per bot, every series by shard) and the ``/metrics`` server."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from prometheus_client import CONTENT_TYPE_LATEST

from bot.metrics import NO_SHARD, Metrics, MetricsPortUnavailable, MetricsServer, shard_context

GUILD_ON_SHARD_1 = (7 << 22) | 12345  # (id >> 22) % 2 == 1


def value(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def test_a_guild_is_on_the_shard_discord_reckons() -> None:
    metrics = Metrics(shard_count=2)
    assert metrics.shard_of(GUILD_ON_SHARD_1) == "1"
    assert metrics.shard_of(6 << 22) == "0"
    assert Metrics().shard_of(GUILD_ON_SHARD_1) == "0"  # one shard: every guild on shard 0


def test_a_debate_is_counted_started_in_flight_and_ended_on_its_shard() -> None:
    metrics = Metrics(shard_count=2)
    with metrics.debate_running(GUILD_ON_SHARD_1) as shard:
        assert shard == "1"
        assert value(metrics, "parley_debates_running", shard="1") == 1
        metrics.persona_answered(shard, 1.5, 120)
        metrics.persona_answered(shard, 0.3, 80)
        metrics.verdict_written(shard, 4.0, 500)
        metrics.gemini_error("503", "unavailable")  # credited to the debate's shard
        metrics.rate_limited()
    metrics.debate_ended(shard, "finished")
    assert value(metrics, "parley_debates_running", shard="1") == 0
    assert value(metrics, "parley_debates_total", shard="1", outcome="started") == 1
    assert value(metrics, "parley_debates_total", shard="1", outcome="finished") == 1
    assert value(metrics, "parley_persona_latency_seconds_count", shard="1") == 2
    assert value(metrics, "parley_persona_latency_seconds_sum", shard="1") == pytest.approx(1.8)
    assert value(metrics, "parley_persona_latency_seconds_bucket", shard="1", le="0.5") == 1
    assert value(metrics, "parley_verdict_latency_seconds_count", shard="1") == 1
    assert value(metrics, "parley_tokens_total", shard="1", role="persona") == 200
    assert value(metrics, "parley_tokens_total", shard="1", role="verdict") == 500
    assert value(metrics, "parley_gemini_errors_total", shard="1", code="503", kind="unavailable") == 1
    assert value(metrics, "parley_discord_rate_limited_total", shard="1") == 1


def test_outside_a_debate_errors_belong_to_no_shard_and_two_bots_count_apart() -> None:
    first, second = Metrics(), Metrics()
    first.gemini_error("network", "network")
    first.rate_limited()
    assert value(first, "parley_gemini_errors_total", shard=NO_SHARD, code="network", kind="network") == 1
    assert value(first, "parley_discord_rate_limited_total", shard=NO_SHARD) == 1
    assert value(second, "parley_gemini_errors_total", shard=NO_SHARD, code="network", kind="network") == 0
    assert b"parley_gemini_errors_total" in first.exposition()


async def test_the_shard_follows_the_debates_tasks_and_stays_in_them() -> None:
    metrics = Metrics(shard_count=2)

    async def inside() -> None:
        await asyncio.sleep(0)
        metrics.gemini_error("429", "rate_limited")

    with metrics.debate_running(GUILD_ON_SHARD_1):
        await asyncio.create_task(inside())
    metrics.gemini_error("429", "rate_limited")
    assert value(metrics, "parley_gemini_errors_total", shard="1", code="429", kind="rate_limited") == 1
    assert value(metrics, "parley_gemini_errors_total", shard=NO_SHARD, code="429", kind="rate_limited") == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_the_server_serves_the_registry_and_closes() -> None:
    metrics = Metrics()
    metrics.rate_limited()
    port = _free_port()
    server = MetricsServer(metrics, port)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as got:
            assert got.status == 200
            assert got.headers["Content-Type"] == CONTENT_TYPE_LATEST
            assert 'parley_discord_rate_limited_total{shard="none"} 1.0' in await got.text()
    finally:
        await server.close()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"http://127.0.0.1:{port}/metrics")


async def test_a_port_in_use_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MetricsPortUnavailable, match=rf"METRICS_PORT={port} .*free port"):
            await MetricsServer(Metrics(), port).start()


async def test_a_channel_sender_made_inside_a_debate_keeps_its_shard_and_nothing_else() -> None:
    metrics = Metrics(shard_count=2)
    with metrics.debate_running(GUILD_ON_SHARD_1):
        context = shard_context()
    await asyncio.create_task(asyncio.sleep(0), context=context)
    context.run(metrics.rate_limited)
    assert value(metrics, "parley_discord_rate_limited_total", shard="1") == 1
    assert len(list(context.items())) == 1  # neither the debate's language nor its log id goes with it
    shard_context().run(metrics.rate_limited)  # made outside any debate
    assert value(metrics, "parley_discord_rate_limited_total", shard=NO_SHARD) == 1
