"""The crowd beside the council: members' votes for a debate's most convincing persona, as verdict fields.

Under each verdict members vote with one button per persona (one vote each, changeable). The crowd's
fields are the last two of the verdict's last embed (the one with the debate's figures in its footer):
"👥 Crowd" ranks the personas by votes, right beside the council's tally, and "Agreement" says how far
the two agree:

    **Agreement** is the share of the crowd's votes that went to personas whose final stance is the
    council's leading stance (the one most personas ended on, ``unknown`` aside). There is none to
    measure when nobody voted, when no persona took a stance, or when the council is split (two stances
    tie for the most personas).

The two fields never count more than :data:`CROWD_FIELDS_LIMIT` characters (packing keeps that much room
for them in the verdict's last message), nor more than the room a refresh finds left in the message it
edits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.core.debate import Position
from bot.core.personas import Persona
from bot.core.render import (
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    EmbedField,
    left_out_line,
    safe_inline,
    stance_tally,
)
from bot.core.stances import ANSWERABLE_STANCES, BADGES, Stance
from bot.core.text import discord_length, truncate
from bot.core.translation import N_, _, ngettext

CROWD_FIELD = N_("👥 Crowd")
AGREEMENT_FIELD = N_("Agreement")
AGREEMENT_DEFINITION = N_(
    "Agreement: the share of the crowd's votes for personas whose final stance is the council's leading one."
)
CROWD_FIELD_COUNT = 2
"""The crowd's fields: the last this many of the verdict's last embed."""
CROWD_FIELDS_LIMIT = 1500
"""The most characters the crowd's two fields count towards their message's 6000, whatever the votes."""
BUTTON_LABEL_LIMIT = 80
"""Discord's limit on a button's label."""
RANKING_LABEL_LIMITS = (60, 32, 16)
"""How much of a persona's label a ranking line shows: the first that lets the fields fit their room."""
_CUSTOM_EMOJI = re.compile(r"<a?:([A-Za-z0-9_]{2,32}):\d{15,21}>")
MOSTLY = 2 / 3
"""Agreement from which the crowd mostly agrees with the council (and up to 1 − this, mostly not)."""


def vote_button_label(persona: Persona) -> str:
    """A persona's vote button label: ``{emoji} {name}`` within Discord's 80 characters. A server emoji
    (``<:name:id>``) would show as that text in a label, so its persona shows by name alone."""
    label = persona.name if _CUSTOM_EMOJI.search(persona.emoji) else persona.label
    return truncate(label, BUTTON_LABEL_LIMIT)


def final_stances(panel: Sequence[Persona], positions: Sequence[Position]) -> tuple[Stance | None, ...]:
    """Each panel persona's final stance, in panel order (None: it never answered)."""
    stance_of = {position.persona.name: position.stance for position in positions}
    return tuple(stance_of.get(persona.name) for persona in panel)


def leading_stance(stances: Sequence[Stance | None]) -> Stance | None:
    """The stance most personas ended on (``unknown`` and no answer aside); None when none was taken or
    two stances tie for the most (the council is split)."""
    counts = {stance: stances.count(stance) for stance in ANSWERABLE_STANCES if stance in stances}
    if not counts:
        return None
    most = max(counts.values())
    leaders = [stance for stance, count in counts.items() if count == most]
    return leaders[0] if len(leaders) == 1 else None


def agreement(stances: Sequence[Stance | None], counts: Mapping[int, int]) -> float | None:
    """The share of the crowd's votes for personas whose final stance is the council's leading one; None
    when nobody voted or there is no leading stance."""
    leading = leading_stance(stances)
    total = sum(counts.values())
    if leading is None or total == 0:
        return None
    agreeing = sum(votes for position, votes in counts.items() if _stance_at(stances, position) is leading)
    return agreeing / total


@dataclass(frozen=True, slots=True)
class Ranked:
    """One persona in the crowd's ranking: its place (ties share one), panel position and votes."""

    place: int
    position: int
    votes: int


def ranking(counts: Mapping[int, int], panel_size: int) -> list[Ranked]:
    """The personas that got votes, most first (panel order among equals); equal votes share a place."""
    ordered = sorted(
        ((position, votes) for position, votes in counts.items() if votes > 0 and 0 <= position < panel_size),
        key=lambda item: (-item[1], item[0]),
    )
    ranked: list[Ranked] = []
    for index, (position, votes) in enumerate(ordered):
        place = ranked[-1].place if ranked and ranked[-1].votes == votes else index + 1
        ranked.append(Ranked(place, position, votes))
    return ranked


def crowd_fields(
    panel: Sequence[Persona],
    stances: Sequence[Stance | None],
    counts: Mapping[int, int],
    *,
    room: int = CROWD_FIELDS_LIMIT,
) -> list[EmbedField]:
    """The crowd's two fields: "👥 Crowd" (inline, to sit beside the council's tally), the ranking
    (persona, votes, share, final stance) or, with no votes, an invitation to vote; then "Agreement".
    At most ``room`` (and :data:`CROWD_FIELDS_LIMIT`) characters when that leaves room for their names:
    labels are shortened, then the ranking's tail is left out, then the texts are cut, as needed."""
    room = min(room, CROWD_FIELDS_LIMIT)
    counts = {position: votes for position, votes in counts.items() if 0 <= position < len(panel)}
    ranked = ranking(counts, len(panel))
    total = sum(counts.values())
    agreement_text = _agreement_text(stances, counts)
    for label_limit in RANKING_LABEL_LIMITS:
        lines = [_ranking_line(panel, stances, entry, total, label_limit) for entry in ranked]
        fields = _fields(_crowd_text(lines, total), agreement_text)
        if _fits(fields, room):
            return fields
    while lines:  # the shortest labels still do not fit: leave out the ranking's tail
        lines.pop()
        fields = _fields(_crowd_text(lines, total, left_out=len(ranked) - len(lines)), agreement_text)
        if _fits(fields, room):
            return fields
    return _shrunk(fields, room)


def _fields(crowd: str, agreement_text: str) -> list[EmbedField]:
    definition = "*" + _(AGREEMENT_DEFINITION) + "*"
    return [
        {"name": truncate(_(CROWD_FIELD), FIELD_NAME_LIMIT), "value": crowd, "inline": True},
        {
            "name": truncate(_(AGREEMENT_FIELD), FIELD_NAME_LIMIT),
            "value": truncate(agreement_text + "\n" + definition, FIELD_VALUE_LIMIT),
            "inline": False,
        },
    ]


def fields_size(fields: Sequence[EmbedField]) -> int:
    """Characters ``fields`` count towards their message's 6000."""
    return sum(discord_length(field["name"]) + discord_length(field["value"]) for field in fields)


def _fits(fields: Sequence[EmbedField], room: int) -> bool:
    return fields_size(fields) <= room and all(
        discord_length(field["value"]) <= FIELD_VALUE_LIMIT for field in fields
    )


def _crowd_text(lines: Sequence[str], total: int, *, left_out: int = 0) -> str:
    if total == 0:
        return _(
            "Nobody has voted yet. Which persona convinced you most? Press their button below: "
            "one vote each, and you can change it."
        )
    if left_out:
        lines = [*lines, left_out_line(left_out)]
    voted = ngettext("{count} member voted.", "{count} members voted.", total).format(count=total)
    return "\n".join(lines) + "\n\n" + voted + " " + _("Press a persona below to vote or change your vote.")


def _stance_at(stances: Sequence[Stance | None], position: int) -> Stance | None:
    return stances[position] if 0 <= position < len(stances) else None


def _label(persona: Persona, limit: int) -> str:
    return truncate(safe_inline(persona.label), limit)


def _ranking_line(
    panel: Sequence[Persona], stances: Sequence[Stance | None], entry: Ranked, total: int, label_limit: int
) -> str:
    """``**1.** 🚀 Rebel Pilot — 3 votes · 50 % · 🟢 For``."""
    votes = ngettext("{count} vote", "{count} votes", entry.votes).format(count=entry.votes)
    stance = _stance_at(stances, entry.position)
    parts = [votes, f"{round(100 * entry.votes / total)} %"]
    if stance is not None:
        parts.append(_(BADGES[stance]))
    return f"**{entry.place}.** {_label(panel[entry.position], label_limit)} — {' · '.join(parts)}"


def _agreement_text(stances: Sequence[Stance | None], counts: Mapping[int, int]) -> str:
    """How far the crowd agrees with the council, or why that cannot be said."""
    known = [stance for stance in stances if stance is not None]
    leading = leading_stance(stances)
    if sum(counts.values()) == 0:
        return _("Nobody has voted yet.")
    if not any(stance in ANSWERABLE_STANCES for stance in known):
        return _("No persona took a stance, so there is no side to agree with.")
    if leading is None:
        return _("The council is split ({tally}), so there is no leading side to agree with.").format(
            tally=stance_tally(known)
        )
    share = agreement(stances, counts)
    assert share is not None  # votes and a leading stance
    measured = _(
        "{share} % of the crowd's votes went to personas who ended {stance}, the council's side."
    ).format(share=round(100 * share), stance=_(BADGES[leading]))
    if share >= MOSTLY:
        verdict = _("The crowd mostly agrees with the council.")
    elif share <= 1 - MOSTLY:
        verdict = _("The crowd mostly disagrees with the council.")
    else:
        verdict = _("The crowd is divided.")
    return f"{measured} {verdict}"


def _shrunk(fields: list[EmbedField], room: int) -> list[EmbedField]:
    """``fields`` cut down to ``room`` characters (the last resort of a message with almost no room
    left): the agreement's text first, then the crowd's; each keeps its name and at least one character."""
    names = sum(discord_length(field["name"]) for field in fields)
    crowd, agreed = fields
    agreement_room = max(1, min(FIELD_VALUE_LIMIT, room - names - discord_length(crowd["value"])))
    agreed = {**agreed, "value": truncate(agreed["value"], agreement_room)}
    crowd_room = max(1, min(FIELD_VALUE_LIMIT, room - names - discord_length(agreed["value"])))
    crowd = {**crowd, "value": truncate(crowd["value"], crowd_room)}
    return [crowd, agreed]
