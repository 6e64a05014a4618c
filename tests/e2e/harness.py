"""Running the real Parley against the loopback fakes, and reading back what reached them."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from discord.gateway import DiscordWebSocket
from discord.http import Route
from sqlalchemy import select

from bot.client import ParleyBot
from bot.gemini import GeminiLLM
from bot.metrics import Metrics
from bot.privacy import PURGE_EVERY_S
from bot.settings import settings_from
from bot.store import Store, debate_replies, debates, make_engine
from tests.fakes.fake_discord import FakeDiscord, FakeGuild, FakeInteraction, FakeMember, RecordedRequest
from tests.fakes.fake_gemini import FakeGemini, GeminiCall

DISCORD_TOKEN = "e2e-discord-token"
GEMINI_KEY = "e2e-gemini-key"
PERSONA_MODEL = "gemini-3.1-flash-lite"
VERDICT_MODEL = "gemini-3.5-flash"
FINAL_STATES = ("✅", "❌", "⏹️")
"""How a debate's final state line starts (done, failed, stopped), in every language."""
DEBATE_WAIT_S = 30

JSON = dict[str, Any]


def bot_environment(discord: FakeDiscord, gemini: FakeGemini, **extra: str) -> dict[str, str]:
    """Exactly the contract variables a user would set to point Parley at these fakes."""
    return {
        "DISCORD_TOKEN": discord.token,
        "GEMINI_API_KEY": gemini.api_key,
        "DISCORD_API_BASE": discord.api_base,
        "GEMINI_BASE_URL": gemini.base_url,
        "PERSONA_MODEL": PERSONA_MODEL,
        "VERDICT_MODEL": VERDICT_MODEL,
        "PERSONA_TIMEOUT_S": "4",
        "MAX_DEBATES_PER_GUILD": "50",
        # No public-server defaults here: tests start debates back to back and count every token.
        "DEBATE_COOLDOWN_S": "0",
        "DAILY_TOKEN_BUDGET": "0",
        **extra,
    }


@contextlib.asynccontextmanager
async def running_parley(
    discord: FakeDiscord, gemini: FakeGemini, *, purge_every_s: float = PURGE_EVERY_S, **extra: str
) -> AsyncIterator[ParleyBot]:
    """The real ParleyBot in this event loop, ready (READY and GUILD_CREATE seen); closed on exit.

    Without a ``DATABASE_URL`` it gets a fresh SQLite file of its own. ``purge_every_s``: how often it
    deletes debates past their server's retention.
    """
    with tempfile.TemporaryDirectory(prefix="parley-e2e-") as scratch:
        extra.setdefault("DATABASE_URL", f"sqlite+aiosqlite:///{scratch}/parley.db")
        settings = settings_from(bot_environment(discord, gemini, **extra))
        saved = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
        store = await Store.open(settings.database_url)
        metrics = Metrics()  # shared by the Gemini client and the bot, as ``python -m bot`` shares it
        llm = GeminiLLM(
            settings.gemini_api_key.reveal(),
            base_url=settings.gemini_base_url,
            rng=random.Random(1),
            metrics=metrics,
        )
        bot = ParleyBot(settings=settings, llm=llm, store=store, purge_every_s=purge_every_s, metrics=metrics)
        task = asyncio.create_task(bot.start(settings.discord_token.reveal()))
        try:
            async with asyncio.timeout(15):
                while not bot.is_ready():
                    if task.done():
                        task.result()
                        raise RuntimeError("the bot stopped before it was ready")
                    await asyncio.sleep(0.01)
            yield bot
        finally:
            await bot.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
            await llm.aclose()
            await store.close()
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved


@dataclass
class DebateRun:
    """What one ``/debate`` left in the fakes."""

    discord: FakeDiscord
    interaction: FakeInteraction

    @property
    def status(self) -> str:
        return status_of(self.interaction)

    @property
    def thread_id(self) -> int:
        assert self.interaction.original_message_id is not None
        return self.interaction.original_message_id  # a thread opened from a message shares its id

    @property
    def thread_messages(self) -> list[JSON]:
        return self.discord.channel_messages(self.thread_id)

    @property
    def thread_embeds(self) -> list[JSON]:
        return [embed for message in self.thread_messages for embed in message.get("embeds", [])]

    def titled(self) -> list[str]:
        return [embed["title"] for embed in self.thread_embeds if embed.get("title")]

    def text_of(self, title: str) -> str:
        """The whole description of the titled embed ``title`` and its untitled continuations."""
        parts: list[str] = []
        inside = False
        for embed in self.thread_embeds:
            if embed.get("title"):
                inside = embed["title"] == title
            if inside:
                parts.append(embed.get("description", ""))
        return "".join(parts)

    def requests(self, predicate: Callable[[RecordedRequest], bool] | None = None) -> list[RecordedRequest]:
        since = self.interaction.created_at
        return [r for r in self.discord.requests if r.t >= since and (predicate is None or predicate(r))]

    def thread_posts(self) -> list[RecordedRequest]:
        return self.requests(
            lambda r: r.method == "POST" and r.path.endswith(f"/channels/{self.thread_id}/messages")
        )


async def run_debate_command(
    discord: FakeDiscord, question: str, *, options: dict[str, Any] | None = None, **invoke: Any
) -> DebateRun:
    """Invoke ``/debate`` (with further ``options``) and wait up to ``DEBATE_WAIT_S`` for its final status."""
    interaction = await discord.invoke_command(
        "debate", options={"question": question, **(options or {})}, **invoke
    )
    async with asyncio.timeout(DEBATE_WAIT_S):
        await final_status(discord, interaction)
    return DebateRun(discord, interaction)


def status_of(interaction: FakeInteraction) -> str:
    """The content of a debate's status message (its original response), "" before there is one."""
    message = interaction.original_message
    return "" if message is None else str(message.get("content", ""))


async def final_status(discord: FakeDiscord, interaction: FakeInteraction) -> str:
    """The debate's status message once its state line (its last line) is final: done, failed or
    stopped."""
    while True:
        changed = discord.messages_changed()
        content = status_of(interaction)
        if content.rsplit("\n", 1)[-1].startswith(FINAL_STATES):
            return content
        await changed.wait()


def persona_calls(gemini: FakeGemini) -> list[GeminiCall]:
    return [call for call in gemini.calls if call.method == "generateContent"]


def verdict_calls(gemini: FakeGemini) -> list[GeminiCall]:
    return [call for call in gemini.calls if call.model == VERDICT_MODEL]


MESSAGE_ROUTES = frozenset(
    {
        "POST /channels/{channel_id}/messages",
        "PATCH /channels/{channel_id}/messages/{message_id}",
        "POST /webhooks/{webhook_id}/{webhook_token}",
        "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original",
        "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
    }
)
CALLBACK_ROUTE = "POST /interactions/{interaction_id}/{interaction_token}/callback"
ORIGINAL_ROUTE = "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original"


def said_done(interaction: FakeInteraction) -> Callable[[RecordedRequest], bool]:
    """Matches the status edit that said the debate was done."""
    return lambda r: (
        r.route == ORIGINAL_ROUTE
        and r.path_params.get("webhook_token") == interaction.token
        and r.status < 300
        and "✅ done in" in str((r.json or {}).get("content", ""))
    )


def message_payloads(discord: FakeDiscord) -> list[JSON]:
    """Every body that wrote a message: channel and webhook sends and edits, and callbacks with content."""
    payloads: list[JSON] = []
    for request in discord.requests:
        if not isinstance(request.json, dict):
            continue
        if request.route in MESSAGE_ROUTES:
            payloads.append(request.json)
        elif request.route == CALLBACK_ROUTE and request.json.get("type") in (4, 7):
            payloads.append(request.json.get("data") or {})
    return payloads


async def run(
    fake: FakeDiscord,
    command: str,
    member: FakeMember,
    guild: FakeGuild,
    *,
    locale: str = "en-US",
    **options: Any,
) -> dict[str, Any]:
    """Invoke ``/command`` (from a client in ``locale``) and return its answer: the response data, or
    after a deferral the message that replaced the loading one."""
    interaction = await fake.invoke_command(
        command, guild=guild, member=member, options=options, locale=locale
    )
    ack = await interaction.wait_for_ack()
    if ack.type == 5:
        return {**await settled_original(fake, interaction), "ack_type": 5}
    assert ack.data is not None
    return {**ack.data, "ack_type": ack.type}


async def settled_original(fake: FakeDiscord, interaction: FakeInteraction) -> dict[str, Any]:
    """The original response once it is no longer Discord's "thinking…" placeholder."""
    async with asyncio.timeout(10):
        while True:
            changed = fake.messages_changed()
            message = interaction.original_message
            if message is not None and not message.get("flags", 0) & 128:
                return message
            await changed.wait()


@dataclass(frozen=True)
class Recorded:
    """A debate as the database keeps it."""

    status: str
    outcome: str | None
    tokens: int | None
    replies: dict[str, tuple[str | None, str | None]]  # persona → (text, failure)


async def recorded_debate(database_url: str, question: str) -> Recorded:
    """The newest debate recorded for ``question``, read straight from the database the bot writes."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            row = (
                await connection.execute(
                    select(debates)
                    .where(debates.c.question == question)
                    .order_by(debates.c.id.desc())
                    .limit(1)
                )
            ).one()
            replies = (
                await connection.execute(select(debate_replies).where(debate_replies.c.debate_id == row.id))
            ).all()
    finally:
        await engine.dispose()
    return Recorded(
        row.status, row.outcome, row.tokens, {reply.persona: (reply.text, reply.failure) for reply in replies}
    )


async def wait_for_line(log: Path, text: str, process: asyncio.subprocess.Process, seconds: float) -> None:
    """Wait until ``text`` appears in the bot's ``log``; fail at once if the bot exits first."""
    async with asyncio.timeout(seconds):
        while text not in (output := await asyncio.to_thread(log.read_text)):
            if process.returncode is not None:
                raise AssertionError(f"the bot exited with {process.returncode}:\n{output}")
            await asyncio.sleep(0.05)


async def start_bot(environment: dict[str, str], cwd: Path, log: Path) -> asyncio.subprocess.Process:
    """``python -m bot`` configured only by ``environment``, logging to ``log``; returns once it is ready."""
    with log.open("a") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=cwd, env=environment, stdout=log_file, stderr=log_file
        )
    await wait_for_line(log, "ready as", process, 30)
    return process


async def stop_bot(process: asyncio.subprocess.Process) -> int:
    """SIGTERM, as a service manager would, and the exit code."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), 15)


def free_port() -> int:
    """A TCP port nothing listens on now (for ``METRICS_PORT``)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Scrape:
    """One read of ``/metrics``: its content type and every sample."""

    content_type: str
    samples: tuple[tuple[str, dict[str, str], float], ...]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples named ``name`` whose labels include ``labels`` (0 when there is none)."""
        return sum(
            value
            for sample, found, value in self.samples
            if sample == name and all(found.get(key) == wanted for key, wanted in labels.items())
        )

    def labels(self, name: str) -> list[dict[str, str]]:
        return [found for sample, found, _value in self.samples if sample == name]


async def scrape_metrics(port: int) -> Scrape:
    """``GET http://127.0.0.1:{port}/metrics``, parsed as Prometheus reads it."""
    from prometheus_client.parser import text_string_to_metric_families

    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200, await response.text()
        text = await response.text()
        content_type = response.headers["Content-Type"]
    samples = tuple(
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    )
    return Scrape(content_type, samples)
