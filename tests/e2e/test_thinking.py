"""Thinking end to end: the fake Gemini spends every thought token a request allows, and Parley's default
models, thinking levels and output budgets still leave room for whole answers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.client import ParleyBot
from bot.core.personas import DEFAULT_PANEL
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    PERSONA_MODEL,
    VERDICT_MODEL,
    message_payloads,
    persona_calls,
    run_debate_command,
    running_parley,
    verdict_calls,
)
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_gemini import FakeGemini, Reply, count_tokens

pytestmark = pytest.mark.e2e

QUESTION = "Should the Rebellion have negotiated before Yavin?"
CHAIR = "You chair a structured debate"


def words(sentence: str, count: int) -> str:
    """``count`` words cycled from ``sentence``, ending with a full stop."""
    pool = sentence.split()
    return " ".join(pool[i % len(pool)] for i in range(count)) + "."


# Each persona answers with the most the prompt allows (250 words); the verdict runs to 800 tokens.
REPLIES = {
    persona.name: words(f"As the {persona.name} I weigh what the Alliance risked against what it won;", 250)
    for persona in DEFAULT_PANEL
}
VERDICT = ("On balance the panel leans to no: the crux is whether talks could have saved Alderaan. " * 40)[
    : 800 * 4
]


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=GEMINI_KEY) as fake:
        for name, text in REPLIES.items():
            fake.script(f"You are {name}, one voice", Reply(text))
        fake.script(CHAIR, Reply(VERDICT))
        yield fake


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=DISCORD_TOKEN) as fake:
        fake.add_guild("Parley Test")
        yield fake


@pytest.fixture
async def parley(discord_fake: FakeDiscord, gemini: FakeGemini) -> AsyncIterator[ParleyBot]:
    async with running_parley(discord_fake, gemini) as bot:
        yield bot


def test_the_scripted_answers_are_as_long_as_the_prompts_allow() -> None:
    assert all(len(text.split()) == 250 for text in REPLIES.values())
    assert count_tokens(VERDICT) == 800


@pytest.mark.usefixtures("parley")
async def test_default_budgets_leave_room_for_whole_answers_after_thinking(
    discord_fake: FakeDiscord, gemini: FakeGemini
) -> None:
    run = await run_debate_command(discord_fake, QUESTION)

    assert run.status.splitlines()[-1].startswith("✅ done in ")
    for persona in DEFAULT_PANEL:
        assert run.text_of(persona.label) == REPLIES[persona.name]
    assert run.text_of("⚖️ Verdict") == VERDICT
    assert not any("cut off" in str(payload) for payload in message_payloads(discord_fake))

    personas, verdicts = persona_calls(gemini), verdict_calls(gemini)
    assert len(personas) == len(DEFAULT_PANEL)
    assert len(verdicts) == 1
    # Sent as budgets: the thinking levels Parley is configured with (minimal, low), in the form
    # Google's published v1beta types define.
    assert {(call.model, call.thinking_budget) for call in personas} == {(PERSONA_MODEL, 512)}
    assert [(call.model, call.thinking_budget) for call in verdicts] == [(VERDICT_MODEL, 1024)]
    calls = personas + verdicts
    assert [call.finish_reason for call in calls] == ["STOP"] * len(calls)
    for call in calls:
        assert call.usage is not None
        assert call.usage.thoughts == call.thoughts_tokens > 0
        assert call.usage.thoughts + call.usage.candidates <= call.max_output_tokens

    billed = sum(
        call.usage.prompt + call.usage.candidates + call.usage.thoughts for call in calls if call.usage
    )
    thoughts = sum(call.thoughts_tokens for call in calls)
    footer = run.thread_embeds[-1]["footer"]["text"]
    assert footer.endswith(f"{billed:,} tokens ({thoughts:,} thinking)")
