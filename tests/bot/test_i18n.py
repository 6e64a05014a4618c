"""The command localisations: the gettext catalogues against the command tree, and Discord's rules."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import discord
import pytest
from babel.messages.pofile import read_po
from discord import app_commands
from discord.ext import commands

from bot.client import EXTENSIONS, same_commands
from bot.i18n import DOMAIN, LOCALES_DIR, CatalogueTranslator, read_catalogue, read_catalogues
from tests.bot.test_messages import marked_messages

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = {discord.Locale.french, discord.Locale.german, discord.Locale.spain_spanish}
LANGUAGES |= {discord.Locale.brazil_portuguese, discord.Locale.japanese}
# Docs interactions/application-commands#application-command-object-application-command-naming.
NAME = re.compile(r"^[-_\w\u0900-\u097F\u0E00-\u0E7F]{1,32}$")


class RecordingTranslator(app_commands.Translator):
    """Records every string the command tree asks to translate, and translates none."""

    def __init__(self) -> None:
        self.messages: set[str] = set()

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        self.messages.add(string.message)
        return None


async def command_tree() -> app_commands.CommandTree[Any]:
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.none())
    for extension in EXTENSIONS:
        await bot.load_extension(extension)
    return bot.tree


async def translated_commands(translator: app_commands.Translator) -> list[dict[str, Any]]:
    tree = await command_tree()
    await translator.load()
    return [await command.get_translated_payload(tree, translator) for command in tree.get_commands()]


async def test_every_catalogue_translates_every_string_the_commands_use_and_holds_no_stale_one() -> None:
    """The catalogues hold the commands' strings and Parley's messages (tests/bot/test_messages.py
    checks those); anything else is stale."""
    recorder = RecordingTranslator()
    await translated_commands(recorder)
    assert {"debate", "question", "Stakeholders: HR, Legal, Product, Engineering"} <= recorder.messages
    catalogues = read_catalogues(LOCALES_DIR)
    assert set(catalogues) == LANGUAGES
    messages = {message if isinstance(message, str) else message[0] for message in marked_messages()}
    for path in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"):
        with path.open("rb") as file:
            ids = {message.id if isinstance(message.id, str) else message.id[0] for message in read_po(file)}
        ids.discard("")
        assert recorder.messages <= ids, f"missing msgids in {path}"
        assert ids <= recorder.messages | messages, (
            f"stale msgids in {path}: {ids - recorder.messages - messages}"
        )
        translated = read_catalogue(path)
        missing = recorder.messages - set(translated)
        assert not missing, f"untranslated in {path}: {sorted(missing)}"


def walk(item: dict[str, Any]) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Each group of siblings: (options, their choices) at every level."""
    options = item.get("options") or []
    yield options, []
    for option in options:
        if option.get("choices"):
            yield [], option["choices"]
        yield from walk(option)


async def test_translated_names_and_descriptions_follow_discords_rules() -> None:
    commands_ = await translated_commands(CatalogueTranslator())
    for locale in LANGUAGES:
        top = [command["name_localizations"][locale.value] for command in commands_]
        assert len(set(top)) == len(top), (locale, top)
        for command in commands_:
            assert set(command["name_localizations"]) == {language.value for language in LANGUAGES}
            for options, choices in [([command], []), *walk(command)]:
                names = [option["name_localizations"][locale.value] for option in options]
                assert len(set(names)) == len(names), (locale, names)
                for option in options:
                    name = option["name_localizations"][locale.value]
                    assert NAME.match(name), (locale, name)
                    assert name == name.lower(), (locale, name)
                    description = option["description_localizations"][locale.value]
                    assert 1 <= len(description) <= 100, (locale, description)
                for choice in choices:
                    assert 1 <= len(choice["name_localizations"][locale.value]) <= 100


async def test_debate_is_translated_and_other_locales_keep_english() -> None:
    commands_ = {command["name"]: command for command in await translated_commands(CatalogueTranslator())}
    debate = commands_["debate"]
    assert debate["name_localizations"]["fr"] == "débat"
    assert debate["description_localizations"]["ja"].startswith("パネルに質問")
    assert debate["options"][0]["name_localizations"]["de"] == "frage"
    assert "it" not in debate["name_localizations"]  # no catalogue: Discord shows the English string


def test_the_catalogues_are_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["bot"]
    bot_dir = ROOT / "bot"
    shipped = {path for pattern in patterns for path in bot_dir.glob(pattern)}
    assert set(LOCALES_DIR.glob("*/LC_MESSAGES/*.po")) <= shipped


def command(**changes: Any) -> dict[str, Any]:
    option = {"type": 3, "name": "question", "description": "What?", "required": True}
    option["choices"] = [{"name": "Star Wars", "value": "starwars"}]
    base: dict[str, Any] = {"name": "debate", "description": "Ask", "options": [option]}
    return {**base, **changes}


@pytest.mark.parametrize(
    "change",
    [
        {"name_localizations": {"fr": "débat"}},
        {"description_localizations": {"fr": "Demander"}},
        {"options": [{**command()["options"][0], "name_localizations": {"fr": "question"}}]},
        {"options": [{**command()["options"][0], "description_localizations": {"de": "Was?"}}]},
        {
            "options": [
                {
                    **command()["options"][0],
                    "choices": [
                        {"name": "Star Wars", "value": "starwars", "name_localizations": {"ja": "星"}}
                    ],
                }
            ]
        },
    ],
)
def test_a_changed_localisation_is_noticed_and_no_localisation_equals_none(change: dict[str, Any]) -> None:
    assert not same_commands([command()], [command(**change)])
    assert same_commands([command(**change)], [command(**change)])
    assert same_commands([command(name_localizations={})], [command(name_localizations=None)])
