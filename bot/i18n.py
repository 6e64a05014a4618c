"""Command localisations: discord.py's ``Translator`` over the gettext catalogues in ``bot/locales``.

Each language has ``bot/locales/<language>/LC_MESSAGES/parley.po``, the language named the gettext way
(``fr``, ``pt_BR``) for Discord's locale code (``fr``, ``pt-BR``); every msgid is the English string the
commands declare with ``locale_str``. Discord shows the English string to every other locale.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import discord
from babel.messages.pofile import read_po
from discord import app_commands

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "parley"

Catalogues = dict[discord.Locale, dict[str, str]]


def discord_locale(language: str) -> discord.Locale:
    """The Discord locale of a catalogue directory: ``pt_BR`` → ``pt-BR`` (raises if Discord has none)."""
    return discord.Locale(language.replace("_", "-"))


def read_catalogue(path: Path) -> dict[str, str]:
    """A ``.po`` file's translations, msgid → msgstr; untranslated and fuzzy entries are left out."""
    with path.open("rb") as file:
        catalogue = read_po(file)
    return {
        message.id: message.string
        for message in catalogue
        if isinstance(message.id, str) and message.id and isinstance(message.string, str) and message.string
        if not message.fuzzy
    }


def read_catalogues(directory: Path) -> Catalogues:
    """Every ``<language>/LC_MESSAGES/parley.po`` under ``directory``, by Discord locale."""
    return {
        discord_locale(path.parents[1].name): read_catalogue(path)
        for path in sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    }


class CatalogueTranslator(app_commands.Translator):
    """Translates command names, descriptions, options and choices from the gettext catalogues.

    ``directory`` defaults to :data:`LOCALES_DIR` as it is when the translator loads.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.catalogues: Catalogues = {}

    async def load(self) -> None:
        self.catalogues = await asyncio.to_thread(read_catalogues, self.directory or LOCALES_DIR)

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        return self.catalogues.get(locale, {}).get(string.message)
