"""Parley's own words in the reader's language: gettext catalogues, chosen per task.

Code marks what it shows with :func:`_` (and :func:`ngettext` for counts), the names gettext tools
extract; constants defined at import time are marked with :func:`N_` and translated where they are used.
Which language a task speaks is a context variable (:func:`speak`): set it where an interaction or a
debate begins, and every message rendered in that task — and in the tasks it starts — follows it.
Catalogues are installed once at start-up (:func:`install`) by Discord locale code (``fr``, ``pt-BR``);
anything without a translation stays English.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field


def english_number(value: float, digits: int = 0) -> str:
    """``1,234.5``: a number as English writes it."""
    return f"{value:,.{digits}f}"


@dataclass(frozen=True, slots=True)
class Catalogue:
    """One language's translations: msgid → msgstr, plural msgids → their forms, the plural rule, and how
    the language writes a number with so many decimals."""

    messages: Mapping[str, str] = field(default_factory=dict)
    plurals: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    plural_form: Callable[[int], int] = lambda n: int(n != 1)
    number_format: Callable[[float, int], str] = english_number


_catalogues: dict[str, Catalogue] = {}
_language: ContextVar[str | None] = ContextVar("parley_language", default=None)


def install(catalogues: Mapping[str, Catalogue]) -> None:
    """Use ``catalogues`` (by Discord locale code) from now on, in place of any installed before."""
    _catalogues.clear()
    _catalogues.update(catalogues)


def speak(locale: str | None) -> Token[str | None]:
    """Make this task (and the tasks it starts from now on) speak ``locale`` (None: English)."""
    return _language.set(locale)


@contextmanager
def speaking_in(locale: str | None) -> Iterator[None]:
    """Speak ``locale`` inside the ``with`` block only, then whatever this task spoke before."""
    token = speak(locale)
    try:
        yield
    finally:
        _language.reset(token)


def speaking() -> str | None:
    """The Discord locale code this task speaks, when it has a catalogue; else None (English)."""
    locale = _language.get()
    return locale if locale in _catalogues else None


def _catalogue() -> Catalogue | None:
    locale = _language.get()
    return _catalogues.get(locale) if locale is not None else None


def _(message: str) -> str:
    """``message`` in this task's language."""
    catalogue = _catalogue()
    return catalogue.messages.get(message, message) if catalogue is not None else message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of ``singular``/``plural`` for ``n`` in this task's language."""
    catalogue = _catalogue()
    forms = catalogue.plurals.get((singular, plural)) if catalogue is not None else None
    if catalogue is None or not forms:
        return singular if n == 1 else plural
    return forms[min(catalogue.plural_form(n), len(forms) - 1)]


def N_(message: str) -> str:
    """Mark ``message`` for translation where it is defined; :func:`_` translates it where it is shown."""
    return message


def number(value: float, digits: int = 0) -> str:
    """``value`` with ``digits`` decimals, grouped the way this task's language writes numbers
    (``1,234.5`` in English, ``1 234,5`` in French)."""
    catalogue = _catalogue()
    return (catalogue.number_format if catalogue is not None else english_number)(value, digits)
