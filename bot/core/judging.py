"""A fair judge: the verdict model reads the answers anonymised, in a shuffled order.

Each persona gets a label (``Persona A``, ``Persona B``…) in an order drawn at random for the debate, so
neither the panel's order nor a persona's name can sway the judge. Its verdict speaks of the labels;
:class:`Labels` writes the real names back in, also while the verdict is still streaming, where a label
may be cut in two between chunks.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.personas import Persona

LABEL_WORD = "Persona"
_LABEL = re.compile(rf"\b{LABEL_WORD} ([A-Z])\b")


def label_for(position: int) -> str:
    """The label of the ``position``-th answer the judge reads: ``Persona A``, ``Persona B``…"""
    return f"{LABEL_WORD} {string.ascii_uppercase[position]}"


def shuffled_order(panel_size: int, rng: random.Random) -> tuple[int, ...]:
    """Panel indexes in the order the judge reads them (the first gets ``Persona A``)."""
    order = list(range(panel_size))
    rng.shuffle(order)
    return tuple(order)


@dataclass(frozen=True, slots=True)
class Labels:
    """Which persona each label stands for, in the judge's reading order."""

    personas: tuple[Persona, ...]
    """The panel's personas in reading order: ``personas[0]`` is ``Persona A``."""
    order: tuple[int, ...]
    """Their panel indexes, in the same order."""

    @classmethod
    def for_order(cls, panel: Sequence[Persona], order: Sequence[int]) -> Labels:
        return cls(tuple(panel[index] for index in order), tuple(order))

    def label_of(self, persona: Persona) -> str:
        return label_for(self.personas.index(persona))

    def anonymised(self, text: str) -> str:
        """``text`` with every persona's name (any case) replaced by its label, longest names first."""
        for persona in sorted(self.personas, key=lambda persona: len(persona.name), reverse=True):
            pattern = re.compile(rf"(?<!\w){re.escape(persona.name)}(?!\w)", re.IGNORECASE)
            text = pattern.sub(self.label_of(persona), text)
        return text

    def named(self, text: str, *, final: bool = True) -> str:
        """``text`` with each label replaced by its persona's ``{emoji} {name}``.

        While streaming (``final`` false), a tail that may be the start of a label (``Pers``,
        ``Persona``, ``Persona B`` before the next character shows it ends there) is held back, so a
        label split across chunks is never shown half replaced.
        """
        shown = text if final else text[: len(text) - _label_start_length(text)]
        return _LABEL.sub(self._name_for, shown)

    def _name_for(self, match: re.Match[str]) -> str:
        position = string.ascii_uppercase.index(match.group(1))
        return self.personas[position].label if position < len(self.personas) else match.group(0)


def _label_start_length(text: str) -> int:
    """Length of the tail of ``text`` that could still grow into a label, 0 if none."""
    full = len(LABEL_WORD) + 2  # "Persona X"
    for length in range(min(full, len(text)), 0, -1):
        tail = text[-length:]
        starts_a_word = length == len(text) or not text[-length - 1].isalnum()
        if not starts_a_word:
            continue
        if length == full:
            if tail[:-1] == LABEL_WORD + " " and tail[-1] in string.ascii_uppercase:
                return length
        elif (LABEL_WORD + " ").startswith(tail):
            return length
    return 0
