"""Where each persona stands: the structured answer personas give, and reading it back leniently.

Personas answer with a JSON document (:data:`ANSWER_SCHEMA`): a stance, a confidence, a one-line key
claim and the answer itself, last, so that an answer cut off at the length limit still carries its
stance. Reading never loses an answer: a document that does not parse keeps whatever answer text can be
recovered from it (with the stance ``unknown``), and a reply that is not JSON at all is kept as the answer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.core.text import one_line, truncate
from bot.core.translation import N_

KEY_CLAIM_LIMIT = 200
"""Characters of a key claim Parley keeps (the schema asks for one line)."""


class Stance(StrEnum):
    """A persona's position on the question. ``unknown``: its reply did not say (or could not be read)."""

    FOR = "for"
    AGAINST = "against"
    MIXED = "mixed"
    UNSURE = "unsure"
    UNKNOWN = "unknown"


ANSWERABLE_STANCES = (Stance.FOR, Stance.AGAINST, Stance.MIXED, Stance.UNSURE)

ANSWER_SCHEMA: Mapping[str, object] = {
    "type": "object",
    "properties": {
        "stance": {
            "type": "string",
            "enum": [stance.value for stance in ANSWERABLE_STANCES],
            "description": "Your position on the question as asked.",
        },
        "confidence": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "How sure you are of that position, from 0 to 1.",
        },
        "key_claim": {
            "type": "string",
            "description": "Your central claim in one short sentence.",
        },
        "answer": {
            "type": "string",
            "description": "Your full answer, in character, Discord markdown allowed.",
        },
    },
    "required": ["stance", "confidence", "key_claim", "answer"],
    "additionalProperties": False,
}
"""The JSON Schema of a persona's answer (sent as Gemini's ``responseJsonSchema``)."""


@dataclass(frozen=True, slots=True)
class StructuredAnswer:
    """A persona's answer read from its reply. ``readable``: whether the reply had the expected shape."""

    text: str
    stance: Stance = Stance.UNKNOWN
    confidence: float | None = None
    key_claim: str | None = None
    readable: bool = True


def read_answer(reply: str) -> StructuredAnswer:
    """The answer in ``reply``; never raises, and never returns raw JSON as the answer's text."""
    stripped = reply.strip()
    try:
        document = json.loads(stripped)
    except ValueError:
        if not stripped.startswith("{"):
            return StructuredAnswer(reply, readable=False)  # prose, not the schema: the text is the answer
        return StructuredAnswer(_recover_answer(stripped), readable=False)
    if not isinstance(document, dict) or not isinstance(document.get("answer"), str):
        return StructuredAnswer(_recover_answer(stripped), readable=False)
    return StructuredAnswer(
        text=document["answer"],
        stance=_stance(document.get("stance")),
        confidence=_confidence(document.get("confidence")),
        key_claim=_key_claim(document.get("key_claim")),
    )


def _stance(value: Any) -> Stance:
    if isinstance(value, str):
        try:
            stance = Stance(value.strip().lower())
        except ValueError:
            return Stance.UNKNOWN
        return stance
    return Stance.UNKNOWN


def _confidence(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return min(1.0, max(0.0, float(value)))


def _key_claim(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return truncate(one_line(value), KEY_CLAIM_LIMIT)


_ANSWER_KEY = '"answer"'
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _recover_answer(document: str) -> str:
    """The text of the ``answer`` string in a JSON document that does not parse (most often one cut off
    at the length limit): every character up to its closing quote or the end. Empty when there is none."""
    start = document.find(_ANSWER_KEY)
    if start < 0:
        return ""
    position = start + len(_ANSWER_KEY)
    while position < len(document) and document[position] in " \t\r\n:":
        position += 1
    if position >= len(document) or document[position] != '"':
        return ""
    return _decode_string_prefix(document, position + 1)


def _decode_string_prefix(document: str, position: int) -> str:
    """The JSON string starting at ``position`` (after its opening quote), decoded as far as it goes."""
    characters: list[str] = []
    while position < len(document):
        char = document[position]
        if char == '"':
            break
        if char != "\\":
            characters.append(char)
            position += 1
            continue
        escape = document[position + 1 : position + 2]
        if escape == "u":
            digits = document[position + 2 : position + 6]
            if len(digits) < 4:
                break  # cut off inside an escape
            try:
                characters.append(chr(int(digits, 16)))
            except ValueError:
                break
            position += 6
        elif escape in _ESCAPES:
            characters.append(_ESCAPES[escape])
            position += 2
        else:
            break
    return _join_surrogates("".join(characters))


def _join_surrogates(text: str) -> str:
    """``\\ud83d\\ude80``-style escapes decode to surrogate halves: join them, drop a half cut off."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "ignore")


BADGES: Mapping[Stance, str] = {
    Stance.FOR: N_("🟢 For"),
    Stance.AGAINST: N_("🔴 Against"),
    Stance.MIXED: N_("🟡 Mixed"),
    Stance.UNSURE: N_("⚪ Unsure"),
    Stance.UNKNOWN: N_("❔ Unknown"),
}


def tally(stances: Sequence[Stance]) -> dict[Stance, int]:
    """How many held each stance, in the badges' order, stances nobody held left out."""
    return {stance: count for stance in BADGES if (count := stances.count(stance))}
