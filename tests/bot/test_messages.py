"""Parley's own messages in every catalogue: each string marked in bot/ and cogs/ (``_``, ``ngettext``,
``N_``) has a translation in every language, keeps the English placeholders, and has as many plural forms
as the language's rule chooses from."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from string import Formatter

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.core import translation
from bot.core.debate import PersonaFailure
from bot.core.llm import FailureKind, TokenUsage
from bot.core.personas import DEFAULT_PANEL
from bot.core.render import persona_embeds, progress_state, status_content
from bot.core.translation import _, ngettext, number, speaking_in
from bot.i18n import DOMAIN, LOCALES_DIR, read_message_catalogues

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "ngettext": (1, 2), "N_": None}
CATALOGUES = sorted(LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))

MarkedMessage = str | tuple[str, str]


def marked_messages() -> set[MarkedMessage]:
    """Every string the code marks for translation, as gettext's extractor finds it."""
    found: set[MarkedMessage] = set()
    for directory in ("bot", "cogs"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / directory, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


def placeholders(text: str) -> list[str]:
    """The ``{names}`` a ``str.format`` template fills, in sorted order (repeats kept)."""
    return sorted(field for _text, field, _spec, _conversion in Formatter().parse(text) if field is not None)


def read(path: Path) -> Catalog:
    with path.open("rb") as file:
        return read_po(file)


def test_the_extractor_finds_marked_messages_and_their_plurals() -> None:
    messages = marked_messages()
    assert {
        "⚖️ Verdict",
        "🟢 For",
        "Stance",
        "Only moderators can do this: it needs the **Manage Server** permission.",
    } <= messages
    assert ("{count} token", "{count} tokens") in messages
    assert len(messages) > 150


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda path: path.parents[1].name)
def test_every_marked_message_is_translated_with_its_placeholders(path: Path) -> None:
    catalogue = read(path)
    problems: list[str] = []
    for marked in sorted(marked_messages(), key=str):
        key = marked if isinstance(marked, str) else marked[0]
        entry: Message | None = catalogue.get(key)
        if entry is None or entry.fuzzy:
            problems.append(f"untranslated: {marked!r}")
            continue
        if isinstance(marked, str):
            forms = [entry.string] if isinstance(entry.string, str) else []
            english = [marked]
        else:
            forms = list(entry.string) if isinstance(entry.string, tuple | list) else []
            english = list(marked)
            if len(forms) != catalogue.num_plurals:
                problems.append(f"{len(forms)} plural forms, not {catalogue.num_plurals}: {marked!r}")
        if not forms or not all(forms):
            problems.append(f"untranslated: {marked!r}")
            continue
        for form in forms:
            # Each form fills exactly the English placeholders (a plural form may leave out the count).
            wanted = {field for text in english for field in placeholders(text)}
            if set(placeholders(form)) != wanted and set(placeholders(form)) != wanted - {"count"}:
                problems.append(f"placeholders {placeholders(form)} in {form!r} for {marked!r}")
            form.format(**dict.fromkeys(wanted, "x"))  # well-formed: no stray braces
    assert not problems, "\n".join(problems)


@pytest.fixture
def installed() -> Iterator[None]:
    """The real catalogues installed for the test, whatever was installed before restored after."""
    before = dict(translation._catalogues)
    translation.install(read_message_catalogues(LOCALES_DIR))
    yield
    translation.install(before)


@pytest.mark.usefixtures("installed")
@pytest.mark.parametrize(
    ("locale", "forms"),
    [
        ("fr", {0: "0 jeton", 1: "1 jeton", 2: "2 jetons", 5: "5 jetons"}),
        ("pt-BR", {0: "0 token", 1: "1 token", 2: "2 tokens"}),
        ("es-ES", {0: "0 tokens", 1: "1 token", 2: "2 tokens"}),
        ("de", {0: "0 Token", 1: "1 Token", 2: "2 Token"}),
        ("ja", {0: "0 トークン", 1: "1 トークン", 7: "7 トークン"}),
        ("en-US", {0: "0 tokens", 1: "1 token", 2: "2 tokens"}),
    ],
)
def test_plural_forms_follow_each_languages_rule(locale: str, forms: dict[int, str]) -> None:
    with speaking_in(locale):
        for count, expected in forms.items():
            assert ngettext("{count} token", "{count} tokens", count).format(count=count) == expected


@pytest.mark.usefixtures("installed")
def test_french_debates_differ_from_the_plural_rule_of_english_at_zero_and_one() -> None:
    with speaking_in("fr"):
        one = ngettext("{count} debate", "{count} debates", 1).format(count=1)
        zero = ngettext("{count} debate", "{count} debates", 0).format(count=0)
        assert (one, zero) == ("1 débat", "0 débat")
        assert _("⚖️ Verdict") == "⚖️ Verdict"
        assert _("Stance") == "Position"


@pytest.mark.usefixtures("installed")
def test_numbers_are_written_the_way_the_language_writes_them() -> None:
    assert number(1234567.25, 1) == "1,234,567.2"
    with speaking_in("de"):
        assert number(1234567.25, 1) == "1.234.567,2"
        assert number(8000) == "8.000"
    with speaking_in("fr"):
        assert number(12345) == "12\u202f345"
    with speaking_in("ja"):
        assert number(12345) == "12,345"


@pytest.mark.usefixtures("installed")
def test_parleys_words_around_the_models_are_translated_and_a_known_failure_reason_too() -> None:
    panel = DEFAULT_PANEL[:2]
    failure = PersonaFailure(
        "empty reply", FailureKind.EMPTY, 1.25, TokenUsage(prompt=1000, output=234), attempts=2
    )
    with speaking_in("fr"):
        (embed,) = persona_embeds(panel[0], failure, round_number=2, rounds=3)
        status = status_content("Pourquoi ?", panel, progress_state(1, 2, 2, 3))
    assert embed["description"] == "⚠️ Pas de réponse : réponse vide."
    assert embed["fields"] == [{"name": "Manche", "value": "2 sur 3", "inline": True}]
    assert embed["footer"]["text"] == "1,2 s · 1\u202f234 jetons · 2 tentatives"
    assert status.split("\n") == [
        "**Débat :** Pourquoi ?",
        "**Panel :** " + " · ".join(persona.label for persona in panel),
        "⏳ manche 2/3 · 1/2 réponses",
    ]
    with speaking_in("ja"):
        (embed,) = persona_embeds(panel[0], dataclasses.replace(failure, reason="timed out after 4 s"))
    assert embed["description"] == "⚠️ 回答なし：timed out after 4 s。", "a reason with a figure stays English"
