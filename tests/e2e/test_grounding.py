"""Grounded personas: moderators mark them, their requests carry the Google Search tool, and their answers
list the sources used and the search suggestions Google requires."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.client import ParleyBot
from bot.store import Store
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    persona_calls,
    run,
    run_debate_command,
    running_parley,
    settled_original,
)
from tests.fakes.fake_discord import FakeDiscord, FakeGuild, FakeMember
from tests.fakes.fake_gemini import FakeGemini, GeminiCall, Reply, WebSource

pytestmark = pytest.mark.e2e

REPORTER = "You are a fact-checking reporter. Check every claim against what the record says."
SOURCES = {
    "Was the Death Star legal?": [
        WebSource(
            "galactic-law.example", "https://vertexaisearch.cloud.google.com/grounding-api-redirect/law"
        ),
        WebSource("holonet.example", "https://vertexaisearch.cloud.google.com/grounding-api-redirect/news"),
    ],
    "Was Alderaan armed?": [
        WebSource(
            "alderaan-archive.example", "https://vertexaisearch.cloud.google.com/grounding-api-redirect/a"
        ),
    ],
}


def asked_reporter(question: str) -> Callable[[GeminiCall], bool]:
    """Matches the Reporter's call in the debate on ``question``."""
    return lambda call: "You are Reporter," in call.system_text and question in call.user_text


def reporter_reply(question: str) -> Reply:
    answer = {"stance": "against", "confidence": 0.8, "key_claim": "The record says no.", "answer": question}
    return Reply.json(answer, sources=SOURCES[question], search_queries=[f"{question} record"])


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=GEMINI_KEY) as fake:
        for question in SOURCES:
            fake.script(asked_reporter(question), reporter_reply(question))
        yield fake


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=DISCORD_TOKEN) as fake:
        yield fake


@pytest.fixture
def guild(discord_fake: FakeDiscord) -> FakeGuild:
    return discord_fake.add_guild("Senate")


@pytest.fixture
def owner(guild: FakeGuild) -> FakeMember:
    return guild.members[guild.owner_id]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}"


@pytest.fixture
async def parley(
    discord_fake: FakeDiscord, gemini: FakeGemini, guild: FakeGuild, database_url: str
) -> AsyncIterator[ParleyBot]:
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url) as bot:
        yield bot


async def stored(database_url: str, guild: FakeGuild) -> tuple[list[tuple[str, bool]], list[str]]:
    """The panel's (name, grounded) pairs and the audit summaries, newest first, from the database."""
    store = await Store.open(database_url)
    try:
        panel = await store.panel(guild.id)
        audit = await store.audit_log(guild.id)
    finally:
        await store.close()
    return [(p.name, p.grounded) for p in panel.personas], [entry.summary for entry in audit]


@pytest.mark.usefixtures("parley")
async def test_a_grounded_persona_searches_and_its_answer_lists_the_sources_in_two_debates_at_once(
    discord_fake: FakeDiscord, gemini: FakeGemini, guild: FakeGuild, owner: FakeMember, database_url: str
) -> None:
    added = await run(
        discord_fake,
        "persona add",
        owner,
        guild,
        name="Reporter",
        emoji="📰",
        instructions=REPORTER,
        grounded=True,
    )
    assert added["content"] == "Added **📰 Reporter**. The panel now has 5 personas."
    assert "Grounded in Google Search" in json.dumps(added["embeds"], ensure_ascii=False)

    member = discord_fake.add_member(guild, "asker")
    runs = await asyncio.gather(
        *(run_debate_command(discord_fake, question, guild=guild, member=member) for question in SOURCES)
    )

    calls = persona_calls(gemini)
    assert len(calls) == 2 * 5
    for call in calls:
        grounded = "You are Reporter," in call.system_text
        assert call.grounded is grounded
        assert call.tools == ([{"googleSearch": {}}] if grounded else [])
        assert call.response_schema is not None  # Gemini 3 takes structured output with the search tool
    for question, debate in zip(SOURCES, runs, strict=True):
        assert debate.text_of("📰 Reporter") == question
        fields = {
            field["name"]: field["value"]
            for embed in debate.thread_embeds
            for field in embed.get("fields", [])
            if field["name"] in ("Sources", "Google Search suggestions")
        }
        assert fields["Sources"].split("\n") == [f"[{s.title}]({s.uri})" for s in SOURCES[question]]
        query = f"{question} record"
        link = "https://www.google.com/search?q=" + query.replace(" ", "+").replace("?", "%3F")
        assert fields["Google Search suggestions"] == f"🔎 [{query}]({link})"
        other_fields = [
            field["name"]
            for embed in debate.thread_embeds
            if embed.get("title") == "🚀 Rebel Pilot"
            for field in embed.get("fields", [])
        ]
        assert "Sources" not in other_fields

    assert (await stored(database_url, guild))[1][0] == "added 📰 Reporter (grounded)"


@pytest.mark.usefixtures("parley")
async def test_grounding_is_toggled_audited_exported_and_imported(
    discord_fake: FakeDiscord, gemini: FakeGemini, guild: FakeGuild, owner: FakeMember, database_url: str
) -> None:
    on = await run(discord_fake, "persona grounded", owner, guild, name="droid analyst", on=True)
    assert on["content"] == (
        "Grounding is on for **🤖 Droid Analyst**: it now answers with Google Search and lists the sources "
        "it used."
    )
    again = await run(discord_fake, "persona grounded", owner, guild, name="Droid Analyst", on=True)
    assert again["content"] == "Nothing changed: grounding is already on for **🤖 Droid Analyst**."
    panel, audit = await stored(database_url, guild)
    assert panel == [
        ("Rebel Pilot", False),
        ("Imperial Officer", False),
        ("Neutral Citizen", False),
        ("Droid Analyst", True),
    ]
    assert audit == ["turned grounding on for 🤖 Droid Analyst"]

    exported = await discord_fake.invoke_command("persona export", guild=guild, member=owner)
    await exported.wait_for_ack()
    assert exported.original_message is not None
    (attachment,) = exported.original_message["attachments"]
    document = json.loads(discord_fake.uploaded_file(attachment["url"]))
    assert [p.get("grounded") for p in document["personas"]] == [None, None, None, True]

    await run(discord_fake, "persona grounded", owner, guild, name="Droid Analyst", on=False)
    assert (await stored(database_url, guild))[0][3] == ("Droid Analyst", False)
    interaction = await discord_fake.invoke_command(
        "persona import",
        guild=guild,
        member=owner,
        options={"file": ("panel.json", json.dumps(document).encode())},
    )
    await interaction.wait_for_ack()
    await settled_original(discord_fake, interaction)
    panel, audit = await stored(database_url, guild)
    assert panel[3] == ("Droid Analyst", True)
    assert audit[:2] == ["imported 4 personas", "turned grounding off for 🤖 Droid Analyst"]

    debate = await run_debate_command(discord_fake, "Is order worth its price?", guild=guild, member=owner)
    (droid,) = [call for call in persona_calls(gemini) if "You are Droid Analyst," in call.system_text]
    assert droid.grounded
    assert "example.com" in json.dumps(debate.thread_embeds)  # the fake's default sources, shown


async def test_grounded_is_a_boolean_option_of_add_and_of_its_own_subcommand(
    discord_fake: FakeDiscord, gemini: FakeGemini
) -> None:
    async with running_parley(discord_fake, gemini):
        pass
    (persona,) = [command for command in discord_fake.commands() if command["name"] == "persona"]
    subcommands = {option["name"]: option for option in persona["options"]}
    add_options = {option["name"]: option for option in subcommands["add"]["options"]}
    assert (add_options["grounded"]["type"], add_options["grounded"].get("required", False)) == (5, False)
    name, on = subcommands["grounded"]["options"]
    assert (name["name"], name["type"], name["required"], name["autocomplete"]) == ("name", 3, True, True)
    assert (on["name"], on["type"], on["required"]) == ("on", 5, True)
