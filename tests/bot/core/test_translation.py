"""The seam for Parley's own words: a language per task, catalogues by Discord locale, English otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bot.core import translation
from bot.core.translation import N_, Catalogue, _, install, ngettext, number, speak, speaking, speaking_in

FRENCH = Catalogue(
    messages={"Stop": "Arrêter", "⏳ {answered}/{panel} answered": "⏳ {answered}/{panel} réponses"},
    plurals={("{count} round", "{count} rounds"): ("{count} manche", "{count} manches")},
    plural_form=lambda n: int(n > 1),
)
GERMAN = Catalogue(messages={"Stop": "Stoppen"}, plurals={}, number_format=lambda value, digits: "n")


@pytest.fixture(autouse=True)
def catalogues() -> Iterator[None]:
    """French and German installed for the test; whatever was installed before, back after it."""
    before = dict(translation._catalogues)
    install({"fr": FRENCH, "de": GERMAN})
    yield
    install(before)


def test_english_unless_a_task_speaks_a_language_with_a_catalogue() -> None:
    assert speaking() is None
    assert _("Stop") == "Stop"
    with speaking_in("fr"):
        assert speaking() == "fr"
        assert _("Stop") == "Arrêter"
        assert _("⏳ {answered}/{panel} answered").format(answered=1, panel=4) == "⏳ 1/4 réponses"
        assert _("Not in the catalogue") == "Not in the catalogue"
    with speaking_in("it"):  # Discord has it; Parley has no catalogue for it
        assert speaking() is None
        assert _("Stop") == "Stop"
    with speaking_in(None):
        assert _("Stop") == "Stop"
    assert _("Stop") == "Stop", "speaking_in gives back the language spoken before"


def test_ngettext_uses_the_catalogues_rule_and_falls_back_to_english() -> None:
    with speaking_in("fr"):
        assert [ngettext("{count} round", "{count} rounds", n) for n in (0, 1, 2)] == [
            "{count} manche",
            "{count} manche",
            "{count} manches",
        ]
        assert ngettext("{count} token", "{count} tokens", 0) == "{count} tokens"  # untranslated: English
    with speaking_in("de"):
        assert ngettext("{count} round", "{count} rounds", 1) == "{count} round"
        assert ngettext("{count} round", "{count} rounds", 2) == "{count} rounds"


def test_n_marks_without_translating() -> None:
    with speaking_in("fr"):
        marked = N_("Stop")
        assert marked == "Stop"
        assert _(marked) == "Arrêter"


def test_numbers_follow_the_catalogue_or_english() -> None:
    assert number(1234.56, 1) == "1,234.6"
    assert number(1234) == "1,234"
    with speaking_in("de"):
        assert number(1234) == "n"


async def test_each_task_speaks_its_own_language_and_the_tasks_it_starts_inherit_it() -> None:
    """Two debates at once, one French and one German, in interleaved steps: no word leaks."""
    both_started = asyncio.Barrier(2)
    heard: dict[str, list[str]] = {}

    async def child() -> str:
        await asyncio.sleep(0)
        return _("Stop")

    async def debate(locale: str) -> None:
        speak(locale)
        await both_started.wait()
        words = [_("Stop")]
        await asyncio.sleep(0)
        words.append(await asyncio.create_task(child()))
        await asyncio.sleep(0)
        words.append(_("Stop"))
        heard[locale] = words

    await asyncio.gather(debate("fr"), debate("de"))
    assert heard == {"fr": ["Arrêter"] * 3, "de": ["Stoppen"] * 3}
    assert _("Stop") == "Stop", "the caller keeps its own language"


async def test_a_task_that_changes_language_does_not_change_its_parents() -> None:
    async def member() -> str:
        speak("de")
        return _("Stop")

    with speaking_in("fr"):
        assert await asyncio.create_task(member()) == "Stoppen"
        assert _("Stop") == "Arrêter"
