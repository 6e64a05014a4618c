"""Command localisations reach Discord, and a changed catalogue (only) resyncs the commands."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import bot.i18n
from tests.e2e.harness import DISCORD_TOKEN, GEMINI_KEY, running_parley
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_gemini import FakeGemini

pytestmark = pytest.mark.e2e

LOCALES = {"fr", "de", "es-ES", "pt-BR", "ja"}
PUT_COMMANDS = "PUT /applications/{application_id}/commands"


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=GEMINI_KEY) as fake:
        yield fake


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=DISCORD_TOKEN) as fake:
        fake.add_guild("Parley Test")
        yield fake


def localised_items(item: dict[str, Any]) -> list[dict[str, Any]]:
    """A command's options at every level, and their choices."""
    found = []
    for option in item.get("options") or []:
        found.append(option)
        found.extend(option.get("choices") or [])
        found.extend(localised_items(option))
    return found


def puts(discord_fake: FakeDiscord) -> int:
    return sum(request.route == PUT_COMMANDS for request in discord_fake.requests)


async def test_synced_commands_carry_the_five_localisations_and_resync_only_on_a_new_catalogue(
    discord_fake: FakeDiscord, gemini: FakeGemini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_parley(discord_fake, gemini):
        pass
    commands = {command["name"]: command for command in discord_fake.commands()}
    debate = commands["debate"]
    assert debate["name_localizations"]["fr"] == "débat"
    assert debate["description_localizations"]["fr"] == (
        "Interroger le panel : chaque persona répond en même temps, puis un verdict tombe."
    )
    question, preset, _rounds = debate["options"]
    assert (question["name_localizations"]["pt-BR"], preset["name_localizations"]["ja"]) == (
        "pergunta",
        "プリセット",
    )
    assert preset["choices"][1]["name_localizations"]["de"].startswith("Interessengruppen:")
    for command in commands.values():
        assert set(command["name_localizations"]) == LOCALES
        assert set(command["description_localizations"]) == LOCALES
        for item in localised_items(command):
            assert set(item["name_localizations"]) == LOCALES, item["name"]
            if "description" in item:
                assert set(item["description_localizations"]) == LOCALES, item["name"]
    assert puts(discord_fake) == 1

    async with running_parley(discord_fake, gemini):
        pass
    assert puts(discord_fake) == 1, "the same catalogues do not resync"

    changed = tmp_path / "locales"
    shutil.copytree(bot.i18n.LOCALES_DIR, changed)
    french = changed / "fr" / "LC_MESSAGES" / "parley.po"
    text = french.read_text()
    assert 'msgid "rounds"\nmsgstr "manches"' in text
    french.write_text(text.replace('msgid "rounds"\nmsgstr "manches"', 'msgid "rounds"\nmsgstr "tours"'))
    monkeypatch.setattr(bot.i18n, "LOCALES_DIR", changed)
    async with running_parley(discord_fake, gemini):
        pass
    assert puts(discord_fake) == 2, "a changed translation resyncs"
    (debate,) = (command for command in discord_fake.commands() if command["name"] == "debate")
    assert debate["options"][2]["name_localizations"]["fr"] == "tours"
