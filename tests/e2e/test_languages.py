"""Debates held in the asker's language, or the one the server pinned with /parley language."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.client import ParleyBot
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    final_status,
    persona_calls,
    run,
    running_parley,
    verdict_calls,
)
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_gemini import FakeGemini

pytestmark = pytest.mark.e2e

QUESTION = "Was the destruction of the Death Star justified?"


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=GEMINI_KEY) as fake:
        yield fake


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=DISCORD_TOKEN) as fake:
        fake.add_guild("Coruscant")
        yield fake


@pytest.fixture
async def parley(discord_fake: FakeDiscord, gemini: FakeGemini) -> AsyncIterator[ParleyBot]:
    async with running_parley(discord_fake, gemini) as bot:
        yield bot


async def debate_in(discord: FakeDiscord, locale: str, question: str) -> None:
    interaction = await discord.invoke_command("debate", options={"question": question}, locale=locale)
    async with asyncio.timeout(30):
        await final_status(discord, interaction)


@pytest.mark.usefixtures("parley")
async def test_debates_by_members_of_two_locales_at_once_answer_in_each_one(
    discord_fake: FakeDiscord, gemini: FakeGemini
) -> None:
    await asyncio.gather(
        debate_in(discord_fake, "fr", f"{QUESTION} (fr)"),
        debate_in(discord_fake, "ja", f"{QUESTION} (ja)"),
        debate_in(discord_fake, "en-US", f"{QUESTION} (en)"),
    )
    expected = {"(fr)": "French (Français)", "(ja)": "Japanese (日本語)", "(en)": None}
    for tag, language in expected.items():
        calls = [call for call in gemini.calls if tag in call.user_text]
        assert len(calls) == 5, tag
        for call in calls:
            if language is None:
                assert "Write in" not in call.system_text
                assert "Write the whole verdict" not in call.system_text
            else:
                assert language in call.system_text, (tag, call.model)
    (french_verdict,) = [call for call in verdict_calls(gemini) if "(fr)" in call.user_text]
    assert (
        "Write the whole verdict, section headings included, in French (Français)"
        in french_verdict.system_text
    )


async def test_a_pinned_language_holds_whoever_asks_until_it_is_cleared(
    discord_fake: FakeDiscord, gemini: FakeGemini, parley: ParleyBot
) -> None:
    guild = next(iter(discord_fake.guilds.values()))
    owner = guild.members[guild.owner_id]
    member = discord_fake.add_member(guild, "padawan")
    # Shown to everyone, as a server may choose: the bot's own check keeps members out.
    discord_fake.allow_command(guild, "parley", role_or_user_id=guild.id)
    refused = await run(discord_fake, "parley language", member, guild, language="de")
    assert refused["flags"] & 64
    assert refused["content"].startswith("Only moderators can do this")
    assert (await parley.store.settings(guild.id)).language is None

    unknown = await run(discord_fake, "parley language", owner, guild, language="Klingon")
    assert unknown["content"] == "'Klingon' is not a language Discord offers: pick one from the list."

    pinned = await run(discord_fake, "parley language", owner, guild, language="de")
    assert pinned["content"] == "Personas and verdicts here now answer in German (Deutsch), whoever asks."
    await debate_in(discord_fake, "fr", f"{QUESTION} (pinned)")
    calls = [call for call in gemini.calls if "(pinned)" in call.user_text]
    assert len(calls) == 5
    assert all("German (Deutsch)" in call.system_text for call in calls)
    assert not any("French" in call.system_text for call in calls)

    cleared = await run(discord_fake, "parley language", owner, guild)
    assert (
        cleared["content"] == "Personas and verdicts here now answer in the language of each member who asks."
    )
    await debate_in(discord_fake, "es-ES", f"{QUESTION} (cleared)")
    calls = [call for call in persona_calls(gemini) if "(cleared)" in call.user_text]
    assert calls
    assert all("Spanish (Español)" in call.system_text for call in calls)


@pytest.mark.usefixtures("parley")
async def test_the_language_option_suggests_discord_s_languages(discord_fake: FakeDiscord) -> None:
    guild = next(iter(discord_fake.guilds.values()))
    typed = await discord_fake.invoke_autocomplete(
        "parley language", focused="language", guild=guild, options={"language": "port"}
    )
    ack = await typed.wait_for_ack()
    assert ack.type == 8
    assert ack.data is not None
    assert ack.data["choices"] == [{"name": "Portuguese, Brazilian (Português do Brasil)", "value": "pt-BR"}]
