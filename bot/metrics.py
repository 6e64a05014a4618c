"""Parley's Prometheus metrics (a registry of its own) and the ``/metrics`` endpoint (``METRICS_PORT``).

Every series carries ``shard``: the shard of the debate's guild, ``(guild_id >> 22) % shard_count``
(https://discord.com/developers/docs/events/gateway#sharding), or ``none`` for what belongs to no debate.
What happens inside a debate's task (a Gemini error, a Discord 429) is credited to the shard that
:meth:`Metrics.debate_running` set for that task.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

log = logging.getLogger(__name__)

NO_SHARD = "none"
LATENCY_BUCKETS_S = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 90.0, 120.0, 180.0)
"""From a fast persona answer to the longest verdict budget (see ``Settings.verdict_timeout_s``)."""

_debate_shard: contextvars.ContextVar[str] = contextvars.ContextVar("parley_debate_shard", default=NO_SHARD)


def shard_context() -> contextvars.Context:
    """A fresh context that credits what happens in it to this task's shard (a channel's sender, made by
    the first debate posting there: a channel is in one guild, so on one shard), and carries nothing else."""
    context = contextvars.Context()
    context.run(_debate_shard.set, _debate_shard.get())
    return context


class MetricsPortUnavailable(Exception):
    """``METRICS_PORT`` could not be bound (in use, or not allowed)."""


class Metrics:
    """Counters, histograms and gauges for debates, Gemini and Discord, in a registry of their own."""

    def __init__(self, shard_count: int = 1) -> None:
        self._shard_count: Callable[[], int | None] = lambda: shard_count
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.debates = Counter(
            "parley_debates",
            "Debates by outcome: started, finished, failed, stopped, interrupted.",
            ["shard", "outcome"],
            registry=registry,
        )
        self.running = Gauge("parley_debates_running", "Debates in flight.", ["shard"], registry=registry)
        self.persona_latency = Histogram(
            "parley_persona_latency_seconds",
            "How long each persona's answer took (failures included).",
            ["shard"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.verdict_latency = Histogram(
            "parley_verdict_latency_seconds",
            "How long each verdict took (failures included).",
            ["shard"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.gemini_errors = Counter(
            "parley_gemini_errors",
            "Failed Gemini attempts by HTTP code (or network) and kind.",
            ["shard", "code", "kind"],
            registry=registry,
        )
        self.tokens = Counter(
            "parley_tokens",
            "Gemini tokens used, by role (persona, verdict).",
            ["shard", "role"],
            registry=registry,
        )
        self.discord_rate_limited = Counter(
            "parley_discord_rate_limited", "Discord 429 responses.", ["shard"], registry=registry
        )

    def follow_shard_count(self, shard_count: Callable[[], int | None]) -> None:
        """Reckon shards from ``shard_count()`` (the bot's, known once the gateway told it; ``None``: 1)."""
        self._shard_count = shard_count

    def shard_of(self, guild_id: int) -> str:
        """The shard serving ``guild_id``, as a label."""
        return str((guild_id >> 22) % max(self._shard_count() or 1, 1))

    @contextlib.contextmanager
    def debate_running(self, guild_id: int) -> Iterator[str]:
        """Count a debate started and in flight until the block ends; inside, this task (and the tasks it
        starts) credit their Gemini errors and 429s to the guild's shard, which is yielded."""
        shard = self.shard_of(guild_id)
        token = _debate_shard.set(shard)
        self.debates.labels(shard, "started").inc()
        self.running.labels(shard).inc()
        try:
            yield shard
        finally:
            self.running.labels(shard).dec()
            _debate_shard.reset(token)

    def debate_ended(self, shard: str, outcome: str) -> None:
        """``outcome``: finished, failed, stopped or interrupted."""
        self.debates.labels(shard, outcome).inc()

    def persona_answered(self, shard: str, latency_s: float, tokens: int) -> None:
        self.persona_latency.labels(shard).observe(latency_s)
        self.tokens.labels(shard, "persona").inc(tokens)

    def verdict_written(self, shard: str, latency_s: float, tokens: int) -> None:
        self.verdict_latency.labels(shard).observe(latency_s)
        self.tokens.labels(shard, "verdict").inc(tokens)

    def gemini_error(self, code: str, kind: str) -> None:
        """A failed Gemini attempt: its HTTP code (``network`` when none came back) and kind."""
        self.gemini_errors.labels(_debate_shard.get(), code, kind).inc()

    def rate_limited(self) -> None:
        """A 429 from Discord."""
        self.discord_rate_limited.labels(_debate_shard.get()).inc()

    def exposition(self) -> bytes:
        """Every series in Prometheus' text format."""
        return generate_latest(self.registry)


class MetricsServer:
    """``GET /metrics`` on ``port`` (every interface), served inside the bot's event loop."""

    def __init__(self, metrics: Metrics, port: int) -> None:
        self._metrics = metrics
        self.port = port
        app = web.Application()
        app.router.add_get("/metrics", self._serve)
        self._runner = web.AppRunner(app, access_log=None)

    async def _serve(self, _request: web.Request) -> web.Response:
        response = web.Response(body=self._metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def start(self) -> None:
        """Listen, or raise :class:`MetricsPortUnavailable` saying why not."""
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, port=self.port).start()
        except OSError as error:
            await self._runner.cleanup()
            raise MetricsPortUnavailable(
                f"cannot serve metrics on METRICS_PORT={self.port} ({error.strerror or error}): "
                "choose a free port or leave METRICS_PORT unset"
            ) from None
        log.info("serving Prometheus metrics at http://0.0.0.0:%d/metrics", self.port)

    async def close(self) -> None:
        await self._runner.cleanup()
