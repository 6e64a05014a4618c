"""Validation of what members and moderators type, with messages written for them."""

from __future__ import annotations

import re
from collections.abc import Sequence

import emoji as emoji_data

from bot.core.personas import Persona
from bot.core.text import quoted
from bot.core.translation import _

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
        raise Invalid(_("The question is empty: ask the panel something."))
    if len(question) > QUESTION_MAX_LENGTH:
        message = _("The question is {length} characters long; the limit is {limit}.")
        raise Invalid(message.format(length=len(question), limit=QUESTION_MAX_LENGTH))
    return question


def check_rounds(rounds: int) -> int:
    """The number of rounds, refused outside 1 to :data:`MAX_ROUNDS`."""
    if not 1 <= rounds <= MAX_ROUNDS:
        raise Invalid(
            _("A debate has 1 to {max} rounds, not {rounds}.").format(max=MAX_ROUNDS, rounds=rounds)
        )
    return rounds


def name_problems(name: str) -> list[str]:
    if not name:
        return [_("The name is empty.")]
    problems = []
    if len(name) > NAME_MAX_LENGTH:
        message = _("The name is {length} characters long; the limit is {limit}.")
        problems.append(message.format(length=len(name), limit=NAME_MAX_LENGTH))
    forbidden = sorted({char for char in name if char in _NAME_FORBIDDEN})
    if forbidden:
        message = _("The name can't contain {characters} (they would ping someone or break formatting).")
        problems.append(message.format(characters=" ".join(forbidden)))
    if any(not char.isprintable() for char in name):
        problems.append(_("The name can't contain line breaks or control characters."))
    return problems


def emoji_problems(emoji: str) -> list[str]:
    if emoji_data.is_emoji(emoji) or _CUSTOM_EMOJI.fullmatch(emoji):
        return []
    message = _("The emoji must be one emoji, like ⚖️ or a server emoji like <:gavel:123…>; got {emoji}.")
    return [message.format(emoji=quoted(emoji, 20))]


def instructions_problems(instructions: str) -> list[str]:
    if len(instructions) < INSTRUCTIONS_MIN_LENGTH:
        message = _("The instructions need at least {min} characters: say who this persona is.")
        return [message.format(min=INSTRUCTIONS_MIN_LENGTH)]
    if len(instructions) > INSTRUCTIONS_MAX_LENGTH:
        message = _("The instructions are {length} characters long; the limit is {limit}.")
        return [message.format(length=len(instructions), limit=INSTRUCTIONS_MAX_LENGTH)]
    return []


def parse_colour(colour: str) -> int:
    """``#RRGGBB`` (the ``#`` may be left out) as an integer; :class:`Invalid` otherwise."""
    match = _COLOUR.fullmatch(colour.strip())
    if not match:
        message = _("The colour must look like #RRGGBB, for example #E67E22; got {colour}.")
        raise Invalid(message.format(colour=quoted(colour, 20)))
    return int(match.group(1), 16)


def format_colour(colour: int) -> str:
    return f"#{colour:06X}"


def model_problems(model: str | None, allowed_models: Sequence[str]) -> list[str]:
    if model is None or model in allowed_models:
        return []
    message = _("The model {model} isn't allowed here; choose one of: {models}.")
    return [message.format(model=quoted(model), models=", ".join(allowed_models))]


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
