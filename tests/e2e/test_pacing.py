"""The posting pipeline against Discord's 5-per-5-seconds message bucket: counts and order, no clocks."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from bot.core.personas import Persona
from tests.e2e.harness import DISCORD_TOKEN, GEMINI_KEY, persona_calls, run_debate_command, running_parley
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_gemini import FakeGemini, Reply

pytestmark = pytest.mark.e2e

PANEL = tuple(
    Persona(
        f"Voice {index}", "🗣️", f"You are voice number {index} of ten, with views of your own.", index * 99
    )
    for index in range(10)
)
VERDICT = "The ten voices agree on one thing only: the question matters. " * 20


def reply_for(index: int, rng: random.Random) -> str:
    words = f"Voice {index} speaks. "
    return (words * 100)[: rng.randint(300, 800)]


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=DISCORD_TOKEN, bucket_limits={"messages": (5, 5.0)}) as fake:
        fake.add_guild("Ten Voices")
        yield fake


@pytest.mark.parametrize("latencies", ["staggered", "all at once"])
async def test_ten_personas_and_the_verdict_land_in_five_posts_in_order_without_429(
    discord_fake: FakeDiscord, latencies: str
) -> None:
    rng = random.Random(4)
    replies = [reply_for(index, rng) for index in range(10)]
    delays = [0.3 + 0.05 * index for index in range(10)] if latencies == "staggered" else [0.0] * 10
    rng.shuffle(delays)
    async with FakeGemini(api_key=GEMINI_KEY) as gemini:
        for persona, reply, delay in zip(PANEL, replies, delays, strict=True):
            gemini.script(f"You are {persona.name},", Reply(reply, latency=delay))
        gemini.script("You chair a structured debate", Reply(VERDICT, latency=0.5))
        async with running_parley(discord_fake, gemini) as bot:
            guild = next(iter(discord_fake.guilds.values()))
            await bot.store.change_panel(guild.id, guild.owner_id, "import", lambda _panel: PANEL)
            run = await run_debate_command(discord_fake, "What should we name the ship?")

    posts = run.thread_posts()
    assert 2 <= len(posts) <= 5
    assert [request.status for request in discord_fake.requests if request.status == 429] == []
    completion_order = [
        call.system_text.split(",")[0].removeprefix("You are ")
        for call in sorted(persona_calls(gemini), key=lambda call: call.t_responded or 0.0)
    ]
    titles = run.titled()
    assert titles[-1] == "⚖️ Verdict"
    if latencies == "staggered":
        assert titles[:-1] == [f"🗣️ {name}" for name in completion_order]
    else:
        assert sorted(titles[:-1]) == sorted(persona.label for persona in PANEL)
    for persona, reply in zip(PANEL, replies, strict=True):
        assert run.text_of(persona.label) == reply
    assert run.text_of("⚖️ Verdict") == VERDICT
    assert "✅ done in" in run.status
