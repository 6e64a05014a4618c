"""Validation of what members and moderators type, with messages written for them."""

from __future__ import annotations

import re
from collections.abc import Sequence

import emoji as emoji_data

from bot.core.personas import Persona
from bot.core.text import quoted

QUESTION_MAX_LENGTH = 1000
NAME_MAX_LENGTH = 64
INSTRUCTIONS_MIN_LENGTH = 10
INSTRUCTIONS_MAX_LENGTH = 2000
EMOJI_MAX_LENGTH = 100
"""Room for any emoji sequence or a server emoji's ``<a:name:id>`` (at most about 60 characters)."""
COLOUR_MAX_LENGTH = 7
MODEL_NAME_MAX_LENGTH = 100
"""Discord's limit for a choice's value, as the model option offers them."""

_CUSTOM_EMOJI = re.compile(r"<a?:[A-Za-z0-9_]{2,32}:\d{15,21}>")
_COLOUR = re.compile(r"#?([0-9A-Fa-f]{6})")
_NAME_FORBIDDEN = "`*_~|\\<>@#[]"


MAX_ROUNDS = 3
"""The most rounds a debate has: round 1, then up to two rounds of rebuttal."""


class Invalid(ValueError):
    """Input that cannot be used. ``problems`` says why, each for the person who typed it."""

    def __init__(self, *problems: str) -> None:
        super().__init__(*problems)
        self.problems = list(problems)

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return self.problems[0]
        return "\n".join(f"• {problem}" for problem in self.problems)


def check_question(question: str) -> str:
    """The question, stripped; refuses blank and over-long ones."""
    question = question.strip()
    if not question:
        raise Invalid("The question is empty: ask the panel something.")
    if len(question) > QUESTION_MAX_LENGTH:
        raise Invalid(f"The question is {len(question)} characters long; the limit is {QUESTION_MAX_LENGTH}.")
    return question


def check_rounds(rounds: int) -> int:
    """The number of rounds, refused outside 1 to :data:`MAX_ROUNDS`."""
    if not 1 <= rounds <= MAX_ROUNDS:
        raise Invalid(f"A debate has 1 to {MAX_ROUNDS} rounds, not {rounds}.")
    return rounds


def name_problems(name: str) -> list[str]:
    if not name:
        return ["The name is empty."]
    problems = []
    if len(name) > NAME_MAX_LENGTH:
        problems.append(f"The name is {len(name)} characters long; the limit is {NAME_MAX_LENGTH}.")
    forbidden = sorted({char for char in name if char in _NAME_FORBIDDEN})
    if forbidden:
        problems.append(
            "The name can't contain "
            + " ".join(forbidden)
            + " (they would ping someone or break formatting)."
        )
    if any(not char.isprintable() for char in name):
        problems.append("The name can't contain line breaks or control characters.")
    return problems


def emoji_problems(emoji: str) -> list[str]:
    if emoji_data.is_emoji(emoji) or _CUSTOM_EMOJI.fullmatch(emoji):
        return []
    return [
        f"The emoji must be one emoji, like ⚖️ or a server emoji like <:gavel:123…>; got {quoted(emoji, 20)}."
    ]


def instructions_problems(instructions: str) -> list[str]:
    if len(instructions) < INSTRUCTIONS_MIN_LENGTH:
        return [
            f"The instructions need at least {INSTRUCTIONS_MIN_LENGTH} characters: say who this persona is."
        ]
    if len(instructions) > INSTRUCTIONS_MAX_LENGTH:
        length = len(instructions)
        return [f"The instructions are {length} characters long; the limit is {INSTRUCTIONS_MAX_LENGTH}."]
    return []


def parse_colour(colour: str) -> int:
    """``#RRGGBB`` (the ``#`` may be left out) as an integer; :class:`Invalid` otherwise."""
    match = _COLOUR.fullmatch(colour.strip())
    if not match:
        raise Invalid(f"The colour must look like #RRGGBB, for example #E67E22; got {quoted(colour, 20)}.")
    return int(match.group(1), 16)


def format_colour(colour: int) -> str:
    return f"#{colour:06X}"


def model_problems(model: str | None, allowed_models: Sequence[str]) -> list[str]:
    if model is None or model in allowed_models:
        return []
    return [f"The model {quoted(model)} isn't allowed here; choose one of: {', '.join(allowed_models)}."]


def make_persona(
    *,
    name: str,
    emoji: str,
    instructions: str,
    colour: str | int | None,
    model: str | None,
    allowed_models: Sequence[str],
    default_colour: int,
    grounded: bool = False,
) -> Persona:
    """A validated persona from raw fields (surrounding blanks ignored), or :class:`Invalid` listing all
    problems. A blank colour takes ``default_colour``; a blank model means the deployment's default."""
    name, emoji, instructions = name.strip(), emoji.strip(), instructions.strip()
    model = (model or "").strip() or None
    problems = name_problems(name) + emoji_problems(emoji) + instructions_problems(instructions)
    problems += model_problems(model, allowed_models)
    value = default_colour
    if isinstance(colour, int):
        value = colour
    elif colour is not None and colour.strip():
        try:
            value = parse_colour(colour)
        except Invalid as error:
            problems += error.problems
    if problems:
        raise Invalid(*problems)
    return Persona(
        name=name, emoji=emoji, instructions=instructions, colour=value, model=model, grounded=grounded
    )
