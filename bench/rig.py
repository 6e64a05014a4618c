"""The bench rig: the loopback fakes in this process, the real bot (``python -m bot``) in its own.

Every figure comes from the fakes' own logs, on one monotonic clock: t0 is when the fake Discord sent
``INTERACTION_CREATE``; a persona "lands" when its message reaches the fake Discord; the floor of a
debate is its slowest persona plus its verdict, as scripted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import secrets
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from bot.core.personas import Persona
from bot.store import Store
from tests.e2e.harness import final_status, status_of
from tests.fakes.fake_discord import (
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    RecordedRequest,
)
from tests.fakes.fake_gemini import FakeGemini, GeminiCall, Outcome, Reply, even_chunks

DISCORD_TOKEN = "bench-discord-token"
GEMINI_KEY = "bench-gemini-key"
_TAG = re.compile(r"\[#(\d+)\]")
_ROUND = re.compile(r"This is round (\d+)")


@dataclass(frozen=True)
class Plan:
    """What the fake Gemini will do for one debate: each persona's latency in each round and its reply
    length, the verdict's latency and how long it then streams."""

    tag: int
    persona_latency: dict[str, float]
    reply_length: dict[str, int]
    verdict_latency: float
    later_rounds: tuple[dict[str, float], ...] = ()
    """Each persona's latency in rounds 2, 3…"""
    verdict_stream_s: float = 0.0
    """After its latency, the verdict arrives in :data:`VERDICT_CHUNKS` events spread over this long."""

    @property
    def question(self) -> str:
        return f"[#{self.tag}] Was the destruction of the Death Star justified?"

    @property
    def rounds(self) -> int:
        return 1 + len(self.later_rounds)

    def latency(self, name: str, round_number: int) -> float:
        rounds = (self.persona_latency, *self.later_rounds)
        return rounds[round_number - 1][name]

    @property
    def floor_s(self) -> float:
        """Each round's slowest persona, summed, plus the verdict."""
        slowest = sum(max(latencies.values()) for latencies in (self.persona_latency, *self.later_rounds))
        return slowest + self.verdict_latency + self.verdict_stream_s

    @property
    def fastest_s(self) -> float:
        return min(self.persona_latency.values())


VERDICT_CHUNKS = 8
STANCES = ("for", "against", "mixed", "unsure")


def make_plan(
    tag: int,
    panel: Sequence[Persona],
    rng: random.Random,
    *,
    latency: tuple[float, float] = (0.3, 0.8),
    reply_chars: tuple[int, int] = (300, 800),
    verdict_s: float = 1.0,
    rounds: int = 1,
    verdict_stream_s: float = 0.0,
) -> Plan:
    def latencies() -> dict[str, float]:
        return {persona.name: rng.uniform(*latency) for persona in panel}

    return Plan(
        tag=tag,
        persona_latency=latencies(),
        reply_length={persona.name: rng.randint(*reply_chars) for persona in panel},
        verdict_latency=verdict_s,
        later_rounds=tuple(latencies() for _ in range(rounds - 1)),
        verdict_stream_s=verdict_stream_s,
    )


def _round_of(call: GeminiCall) -> int:
    found = _ROUND.search(call.user_text)
    return int(found.group(1)) if found else 1


class Script:
    """Answers the fake Gemini's calls from the plans, by the debate tag in the question: personas with
    structured answers, the verdict as a stream."""

    def __init__(self) -> None:
        self.plans: dict[int, Plan] = {}

    def __call__(self, call: GeminiCall) -> Outcome:
        match = _TAG.search(call.user_text)
        plan = self.plans[int(match.group(1))] if match else None
        if plan is None:
            return Reply("An answer.")
        if call.system_text.startswith("You chair"):
            verdict = "## The crux\nWhether the station's crew were combatants: Persona A says so. " * 12
            if plan.verdict_stream_s:
                chunks = even_chunks(verdict, VERDICT_CHUNKS)
                delay = plan.verdict_stream_s / (VERDICT_CHUNKS - 1)
                return Reply(verdict, latency=plan.verdict_latency, chunks=chunks, chunk_delay=delay)
            return Reply(verdict, latency=plan.verdict_latency, chunks=(verdict[:300], verdict[300:]))
        name = call.system_text.removeprefix("You are ").split(",", 1)[0]
        number = _round_of(call)
        text = (f"{name} argues, round {number}. " * 80)[: plan.reply_length[name]]
        answer = {
            "stance": STANCES[(len(name) + number) % len(STANCES)],
            "confidence": 0.7,
            "key_claim": f"{name} has a point.",
            "answer": text,
        }
        return Reply.json(answer, latency=plan.latency(name, number))


@dataclass
class Measured:
    """What one debate measured."""

    plan: Plan
    acked_s: float
    first_embed_s: float
    wall_s: float
    rest_calls: int
    posts: int
    done: bool
    verdict_visible_after_first_event_s: float | None = None
    """From the fake Gemini sending the verdict's first event to its first words reaching Discord."""
    closest_edits_s: float | None = None
    """The shortest time between two writes (post or edit) of one verdict message; None without edits."""

    @property
    def wall_over_floor(self) -> float:
        return self.wall_s / self.plan.floor_s

    @property
    def first_embed_over_fastest_s(self) -> float:
        return self.first_embed_s - self.plan.fastest_s


@dataclass
class Shared:
    """What one debate sharing its channel measured: its wall time, its posts, and whether its
    personas all came before its verdict."""

    plan: Plan
    wall_s: float
    posts: int
    in_order: bool

    @property
    def wall_over_floor(self) -> float:
        return self.wall_s / self.plan.floor_s


@dataclass
class Rig:
    """Fakes, a guild with ``channels`` text channels (default panel) and one with a ten-persona panel.

    With ``processes`` > 1, that many bot processes run one shard each (``SHARD_COUNT``, ``SHARD_IDS``),
    sharing ``database_url`` (PostgreSQL) and ``redis_url``; the ``channels`` are spread over one guild
    per shard."""

    latency_s: float = 0.05
    channels: int = 50
    bot_env: dict[str, str] = field(default_factory=dict)
    script: Script = field(default_factory=Script)
    processes: int = 1
    database_url: str | None = None
    redis_url: str | None = None

    async def __aenter__(self) -> Rig:
        self._stack = contextlib.AsyncExitStack()
        self._scratch = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="parley-bench-")))
        self.gemini = await self._stack.enter_async_context(
            FakeGemini(api_key=GEMINI_KEY, responder=self.script)
        )
        self.discord = await self._stack.enter_async_context(
            FakeDiscord(token=DISCORD_TOKEN, latency_s=self.latency_s, shard_count=self.processes)
        )
        sharded = self.processes > 1
        self.guilds = [
            self.discord.add_guild(
                "Bench" if shard == 0 else f"Bench {shard}", shard_id=shard if sharded else None
            )
            for shard in range(self.processes)
        ]
        self.guild = self.guilds[0]
        self.text_channels: list[FakeChannel] = []
        self.members_of: dict[int, list[FakeMember]] = {}
        for guild in self.guilds:
            extra = [
                self.discord.add_channel(guild, f"debate-{n}")
                for n in range(1, self.channels // self.processes)
            ]
            self.text_channels += [guild.text_channel, *extra]
            self.members_of[guild.id] = [self.discord.add_member(guild, f"member-{n}") for n in range(250)]
        self.members: list[FakeMember] = self.members_of[self.guild.id]
        self.ten_guild = self.discord.add_guild("Ten Voices", shard_id=0 if sharded else None)
        self.ten_panel = tuple(
            Persona(
                f"Voice {n}", "🗣️", f"You are voice {n} of ten, with views of your own.", 0x111111 * (n % 15)
            )
            for n in range(10)
        )
        self.database_url = self.database_url or f"sqlite+aiosqlite:///{self._scratch / 'bench.db'}"
        store = await Store.open(self.database_url)
        try:
            await store.change_panel(self.ten_guild.id, 1, "import", lambda _panel: self.ten_panel)
        finally:
            await store.close()
        self.bots = await asyncio.gather(*(self._start_bot(shard) for shard in range(self.processes)))
        self.process = self.bots[0]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await asyncio.gather(*(self._stop_bot(process) for process in self.bots))
        await self._stack.aclose()

    def log(self, shard: int = 0) -> Path:
        return self._scratch / f"bot-{shard}.log"

    def member_for(self, channel: FakeChannel, n: int) -> FakeMember:
        """The ``n``-th member (round robin) of the guild ``channel`` is in."""
        members = self.members_of[channel.guild_id]
        return members[n % len(members)]

    async def _start_bot(self, shard: int) -> asyncio.subprocess.Process:
        assert self.database_url is not None  # set by __aenter__
        environment = {
            "DISCORD_TOKEN": DISCORD_TOKEN,
            "GEMINI_API_KEY": GEMINI_KEY,
            "DISCORD_API_BASE": self.discord.api_base,
            "GEMINI_BASE_URL": self.gemini.base_url,
            "DATABASE_URL": self.database_url,
            "MAX_DEBATES_PER_GUILD": "1000",
            "DEBATE_COOLDOWN_S": "0",  # the bench's members start debates back to back
            "DAILY_TOKEN_BUDGET": "0",
            "PATH": os.environ.get("PATH", ""),
            **self.bot_env,
        }
        if self.processes > 1:
            environment |= {"SHARD_COUNT": str(self.processes), "SHARD_IDS": str(shard)}
        if self.redis_url is not None:
            environment["REDIS_URL"] = self.redis_url
        command = [sys.executable, "-m", "bot"]
        log_path = self.log(shard)
        with log_path.open("w") as log:
            process = await asyncio.create_subprocess_exec(
                *command, cwd=self._scratch, env=environment, stdout=log, stderr=log
            )
        async with asyncio.timeout(60):
            while "ready as" not in await asyncio.to_thread(log_path.read_text):
                if process.returncode is not None:
                    raise RuntimeError(f"the bot exited:\n{log_path.read_text()}")
                await asyncio.sleep(0.1)
        return process

    @staticmethod
    async def _stop_bot(process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()

    def cpu_seconds(self) -> float:
        """User plus system CPU time the bot processes have used so far (Linux)."""
        total = 0.0
        for process in self.bots:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def count_429(self, *, only_global: bool = False) -> int:
        """429 responses so far; ``only_global``: those of Discord's global limit (``"global": true``)."""
        return sum(
            1
            for request in self.discord.requests
            if request.status == 429
            and (not only_global or (isinstance(request.response, dict) and request.response.get("global")))
        )

    async def debate(
        self,
        plan: Plan,
        *,
        guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
        member: FakeMember | None = None,
        timeout: float = 120.0,  # noqa: ASYNC109
    ) -> Measured:
        """Run one ``/debate`` following ``plan`` and measure it once its status line is final."""
        self.script.plans[plan.tag] = plan
        guild = guild or (self.discord.guilds[channel.guild_id] if channel is not None else self.guild)
        interaction = await self.discord.invoke_command(
            "debate",
            guild=guild,
            channel=channel or guild.text_channel,
            member=member or guild.members[guild.owner_id],
            options={"question": plan.question, **({"rounds": plan.rounds} if plan.rounds > 1 else {})},
        )
        async with asyncio.timeout(timeout):
            await final_status(self.discord, interaction)
        return self._measure(plan, interaction)

    async def shared_debates(self, plans: Sequence[Plan]) -> list[Shared]:
        """Start every plan's debate at once in one new thread (each by its own member) and measure them
        once every status line is final."""
        channel = self.discord.add_thread(self.guild.text_channel, f"shared debates {plans[0].tag}")
        for plan in plans:
            self.script.plans[plan.tag] = plan
        interactions = await asyncio.gather(
            *(
                self.discord.invoke_command(
                    "debate",
                    guild=self.guild,
                    channel=channel,
                    member=self.members[n],
                    options={"question": plan.question},
                )
                for n, plan in enumerate(plans)
            )
        )
        async with asyncio.timeout(120):
            await asyncio.gather(*(final_status(self.discord, i) for i in interactions))
        return [
            self._measure_shared(plan, interaction, channel.id)
            for plan, interaction in zip(plans, interactions, strict=True)
        ]

    def _measure_shared(self, plan: Plan, interaction: FakeInteraction, channel_id: int) -> Shared:
        """A debate in a channel others share: its messages are those replying to its status message."""
        t0 = interaction.dispatched_at or interaction.created_at
        status_id = str(interaction.original_message_id)
        posts = [
            r
            for r in self.discord.requests
            if r.route == "POST /channels/{channel_id}/messages"
            and r.path_params.get("channel_id") == str(channel_id)
            and r.status < 300
            and ((r.response or {}).get("message_reference") or {}).get("message_id") == status_id
        ]
        titles = [e.get("title", "") for r in posts for e in r.json.get("embeds", []) if e.get("title")]
        in_order = (
            bool(titles) and titles[-1].endswith("Verdict") and len(titles) == len(plan.persona_latency) + 1
        )
        own_ids = {str((r.response or {}).get("id")) for r in posts}
        edits = [
            r
            for r in self.discord.requests
            if r.route == "PATCH /channels/{channel_id}/messages/{message_id}"
            and r.path_params.get("message_id") in own_ids
            and r.status < 300
        ]
        final = _final_verdict_write([*posts, *edits]) if in_order else None
        return Shared(
            plan, wall_s=(final.t if final else float("inf")) - t0, posts=len(posts), in_order=in_order
        )

    def _measure(self, plan: Plan, interaction: FakeInteraction) -> Measured:
        t0 = interaction.dispatched_at or interaction.created_at
        thread = str(interaction.original_message_id)
        mine = [
            r
            for r in self.discord.requests
            if str(interaction.id) in r.path or interaction.token in r.path or thread in r.path
        ]
        posts = [r for r in mine if r.method == "POST" and r.path.endswith(f"/channels/{thread}/messages")]
        writes = [r for r in mine if r.status < 300 and f"/channels/{thread}/messages" in r.path]
        verdict_posts = [r for r in posts if any("Verdict" in e.get("title", "") for e in _embeds(r))]
        final = _final_verdict_write(writes)
        judge = [
            call
            for call in self.gemini.calls
            if call.system_text.startswith("You chair") and plan.question in call.user_text
        ]
        first_event = judge[-1].t_first_event if judge else None
        ack = interaction.ack
        return Measured(
            plan=plan,
            acked_s=(ack.t - t0) if ack else float("inf"),
            first_embed_s=(posts[0].t - t0) if posts else float("inf"),
            wall_s=(final.t - t0) if final else float("inf"),
            rest_calls=len(mine),
            posts=len(posts),
            done="✅ done in" in status_of(interaction),
            verdict_visible_after_first_event_s=(
                verdict_posts[0].t - first_event if verdict_posts and first_event is not None else None
            ),
            closest_edits_s=_closest_writes(writes),
        )


@contextlib.asynccontextmanager
async def fresh_postgres_database(admin_dsn: str) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database beside ``admin_dsn``'s, as a SQLAlchemy URL; dropped afterwards."""
    admin = await asyncpg.connect(admin_dsn, timeout=5)
    name = f"parley_{secrets.token_hex(6)}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield "postgresql+asyncpg://" + admin_dsn.split("://", 1)[1].rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def _embeds(request: RecordedRequest) -> list[dict[str, Any]]:
    body = request.json if isinstance(request.json, dict) else {}
    return list(body.get("embeds") or [])


def _final_verdict_write(writes: Sequence[RecordedRequest]) -> RecordedRequest | None:
    """The write that put the verdict's final text in place: the last one whose footer has its figures."""
    finals = [r for r in writes if any("speed-up" in e.get("footer", {}).get("text", "") for e in _embeds(r))]
    return finals[-1] if finals else None


def _closest_writes(writes: Sequence[RecordedRequest]) -> float | None:
    """The shortest time between an edit of a message and the write (post or edit) before it."""
    last: dict[str, float] = {}
    closest: float | None = None
    for request in sorted(writes, key=lambda r: r.t):
        if request.method == "POST":
            last[str((request.response or {}).get("id"))] = request.t
        elif request.method == "PATCH":
            message = str(request.path_params.get("message_id"))
            if message in last:
                gap = request.t - last[message]
                closest = gap if closest is None else min(closest, gap)
            last[message] = request.t
    return closest
