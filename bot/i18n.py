"""Parley in other languages: the gettext catalogues in ``bot/locales``, for the commands and messages.

Each language has ``bot/locales/<language>/LC_MESSAGES/parley.po``, the language named the gettext way
(``fr``, ``pt_BR``) for Discord's locale code (``fr``, ``pt-BR``). One catalogue holds both the strings
the commands declare with ``locale_str`` (discord.py's ``Translator`` hands them to Discord) and Parley's
own messages (installed into :mod:`bot.core.translation`, which picks one per task). Discord shows the
English command strings to every other locale, and Parley speaks English to it.
"""

from __future__ import annotations

import asyncio
import gettext
from collections.abc import Callable
from pathlib import Path
from typing import Any

import discord
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from discord import app_commands

from bot.core import translation

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "parley"

Catalogues = dict[discord.Locale, dict[str, str]]


def discord_locale(language: str) -> discord.Locale:
    """The Discord locale of a catalogue directory: ``pt_BR`` → ``pt-BR`` (raises if Discord has none)."""
    return discord.Locale(language.replace("_", "-"))


def _read_po(path: Path) -> Catalog:
    with path.open("rb") as file:
        return read_po(file)


def read_catalogue(path: Path) -> dict[str, str]:
    """A ``.po`` file's translations, msgid → msgstr; untranslated and fuzzy entries are left out."""
    return _translations(_read_po(path))


def _translations(catalogue: Catalog) -> dict[str, str]:
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


def read_messages(path: Path) -> translation.Catalogue:
    """A ``.po`` file as Parley's messages see it: its translations, its plural forms and its plural rule
    (the ``Plural-Forms`` header). Untranslated and fuzzy entries are left out: they stay English."""
    catalogue = _read_po(path)
    plurals: dict[tuple[str, str], tuple[str, ...]] = {}
    for message in catalogue:
        if message.fuzzy or not isinstance(message.id, tuple | list) or len(message.id) != 2:
            continue
        forms = tuple(message.string) if isinstance(message.string, tuple | list) else ()
        if forms and all(forms):
            plurals[message.id[0], message.id[1]] = forms
    return translation.Catalogue(
        messages=_translations(catalogue),
        plurals=plurals,
        plural_form=gettext.c2py(catalogue.plural_expr),
        number_format=number_format(path.parents[1].name),
    )


def number_format(language: str) -> Callable[[float, int], str]:
    """How ``language`` (``pt_BR``) writes a number with so many decimals: ``1.234,5`` in German."""

    def formatted(value: float, digits: int = 0) -> str:
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(round(value, digits), format=pattern, locale=language)

    return formatted


def read_message_catalogues(directory: Path) -> dict[str, translation.Catalogue]:
    """Every ``<language>/LC_MESSAGES/parley.po`` under ``directory``, by Discord locale code."""
    return {
        discord_locale(path.parents[1].name).value: read_messages(path)
        for path in sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    }


def speak_to(interaction: discord.Interaction[Any]) -> None:
    """Make the task answering ``interaction`` speak the member's own language (Discord's locale)."""
    translation.speak(interaction.locale.value)


class CatalogueTranslator(app_commands.Translator):
    """Translates command names, descriptions, options and choices from the gettext catalogues; loading
    it installs the same catalogues for Parley's messages.

    ``directory`` defaults to :data:`LOCALES_DIR` as it is when the translator loads.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.catalogues: Catalogues = {}

    async def load(self) -> None:
        """Read the catalogues for the commands, and install them for Parley's messages."""
        directory = self.directory or LOCALES_DIR
        self.catalogues = await asyncio.to_thread(read_catalogues, directory)
        translation.install(await asyncio.to_thread(read_message_catalogues, directory))

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        return self.catalogues.get(locale, {}).get(string.message)
