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
import signal
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.personas import Persona
from bot.store import Store
from tests.e2e.harness import final_status, status_of
from tests.fakes.fake_discord import FakeChannel, FakeDiscord, FakeGuild, FakeInteraction, FakeMember
from tests.fakes.fake_gemini import FakeGemini, GeminiCall, Outcome, Reply

DISCORD_TOKEN = "bench-discord-token"
GEMINI_KEY = "bench-gemini-key"
_TAG = re.compile(r"\[#(\d+)\]")


@dataclass(frozen=True)
class Plan:
    """What the fake Gemini will do for one debate: each persona's latency and reply length, the verdict's."""

    tag: int
    persona_latency: dict[str, float]
    reply_length: dict[str, int]
    verdict_latency: float

    @property
    def question(self) -> str:
        return f"[#{self.tag}] Was the destruction of the Death Star justified?"

    @property
    def floor_s(self) -> float:
        return max(self.persona_latency.values()) + self.verdict_latency

    @property
    def fastest_s(self) -> float:
        return min(self.persona_latency.values())


def make_plan(
    tag: int,
    panel: Sequence[Persona],
    rng: random.Random,
    *,
    latency: tuple[float, float] = (0.3, 0.8),
    reply_chars: tuple[int, int] = (300, 800),
    verdict_s: float = 1.0,
) -> Plan:
    return Plan(
        tag=tag,
        persona_latency={persona.name: rng.uniform(*latency) for persona in panel},
        reply_length={persona.name: rng.randint(*reply_chars) for persona in panel},
        verdict_latency=verdict_s,
    )


class Script:
    """Answers the fake Gemini's calls from the plans, by the debate tag in the question."""

    def __init__(self) -> None:
        self.plans: dict[int, Plan] = {}

    def __call__(self, call: GeminiCall) -> Outcome:
        match = _TAG.search(call.user_text)
        plan = self.plans[int(match.group(1))] if match else None
        if plan is None:
            return Reply("An answer.")
        if call.system_text.startswith("You chair"):
            verdict = "On balance justified; the crux is whether the station's crew were combatants. " * 12
            return Reply(verdict, latency=plan.verdict_latency, chunks=(verdict[:300], verdict[300:]))
        name = call.system_text.removeprefix("You are ").split(",", 1)[0]
        text = (f"{name} argues. " * 80)[: plan.reply_length[name]]
        return Reply(text, latency=plan.persona_latency[name])


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
    """Fakes, a guild with ``channels`` text channels (default panel) and one with a ten-persona panel."""

    latency_s: float = 0.05
    channels: int = 50
    bot_env: dict[str, str] = field(default_factory=dict)
    script: Script = field(default_factory=Script)

    async def __aenter__(self) -> Rig:
        self._stack = contextlib.AsyncExitStack()
        self._scratch = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="parley-bench-")))
        self.gemini = await self._stack.enter_async_context(
            FakeGemini(api_key=GEMINI_KEY, responder=self.script)
        )
        self.discord = await self._stack.enter_async_context(
            FakeDiscord(token=DISCORD_TOKEN, latency_s=self.latency_s)
        )
        self.guild = self.discord.add_guild("Bench")
        extra = [self.discord.add_channel(self.guild, f"debate-{n}") for n in range(1, self.channels)]
        self.text_channels: list[FakeChannel] = [self.guild.text_channel, *extra]
        self.members: list[FakeMember] = [
            self.discord.add_member(self.guild, f"member-{n}") for n in range(250)
        ]
        self.ten_guild = self.discord.add_guild("Ten Voices")
        self.ten_panel = tuple(
            Persona(
                f"Voice {n}", "🗣️", f"You are voice {n} of ten, with views of your own.", 0x111111 * (n % 15)
            )
            for n in range(10)
        )
        self.database_url = f"sqlite+aiosqlite:///{self._scratch / 'bench.db'}"
        store = await Store.open(self.database_url)
        try:
            await store.change_panel(self.ten_guild.id, 1, "import", lambda _panel: self.ten_panel)
        finally:
            await store.close()
        await self._start_bot()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._stop_bot()
        await self._stack.aclose()

    @property
    def log(self) -> Path:
        return self._scratch / "bot.log"

    async def _start_bot(self) -> None:
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
        command = [sys.executable, "-m", "bot"]
        with self.log.open("w") as log:
            self.process = await asyncio.create_subprocess_exec(
                *command, cwd=self._scratch, env=environment, stdout=log, stderr=log
            )
        async with asyncio.timeout(60):
            while "ready as" not in await asyncio.to_thread(self.log.read_text):
                if self.process.returncode is not None:
                    raise RuntimeError(f"the bot exited:\n{self.log.read_text()}")
                await asyncio.sleep(0.1)

    async def _stop_bot(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()

    def cpu_seconds(self) -> float:
        """User plus system CPU time the bot process has used so far (Linux)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def count_429(self) -> int:
        return sum(1 for request in self.discord.requests if request.status == 429)

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
        guild = guild or self.guild
        interaction = await self.discord.invoke_command(
            "debate",
            guild=guild,
            channel=channel or guild.text_channel,
            member=member or guild.members[guild.owner_id],
            options={"question": plan.question},
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
        verdict_at = posts[-1].t if in_order else float("inf")
        return Shared(plan, wall_s=verdict_at - t0, posts=len(posts), in_order=in_order)

    def _measure(self, plan: Plan, interaction: FakeInteraction) -> Measured:
        t0 = interaction.dispatched_at or interaction.created_at
        thread = str(interaction.original_message_id)
        mine = [
            r
            for r in self.discord.requests
            if str(interaction.id) in r.path or interaction.token in r.path or thread in r.path
        ]
        posts = [r for r in mine if r.method == "POST" and r.path.endswith(f"/channels/{thread}/messages")]
        verdict = [r for r in posts if any("Verdict" in e.get("title", "") for e in r.json.get("embeds", []))]
        ack = interaction.ack
        return Measured(
            plan=plan,
            acked_s=(ack.t - t0) if ack else float("inf"),
            first_embed_s=(posts[0].t - t0) if posts else float("inf"),
            wall_s=(verdict[0].t - t0) if verdict else float("inf"),
            rest_calls=len(mine),
            posts=len(posts),
            done="✅ done in" in status_of(interaction),
        )
