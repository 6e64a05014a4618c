"""The crowd beside the council: members' votes for a debate's most convincing persona, as an embed.

Under each verdict members vote with one button per persona (one vote each, changeable). The crowd embed,
the last of the verdict's last message, ranks the personas by votes, shows the council's tally beside it,
and says how far the two agree:

    **Agreement** is the share of the crowd's votes that went to personas whose final stance is the
    council's leading stance (the one most personas ended on, ``unknown`` aside). There is none to
    measure when nobody voted, when no persona took a stance, or when the council is split (two stances
    tie for the most personas).

The embed never grows past :data:`CROWD_EMBED_LIMIT` characters (packing keeps that much room for it in
the verdict's last message), nor past the room a refresh finds left in the message it edits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.core.debate import Position
from bot.core.personas import Persona
from bot.core.render import (
    DESCRIPTION_LIMIT,
    TITLE_LIMIT,
    Embed,
    EmbedField,
    safe_inline,
    shown_size,
    stance_tally,
)
from bot.core.stances import ANSWERABLE_STANCES, BADGES, Stance
from bot.core.text import discord_length, truncate
from bot.core.translation import N_, _, ngettext

CROWD_TITLE = N_("👥 The crowd")
CROWD_COLOUR = 0x3498DB
CROWD_EMBED_LIMIT = 1600
"""The most characters the crowd embed counts towards its message's 6000, whatever the votes."""
BUTTON_LABEL_LIMIT = 80
"""Discord's limit on a button's label."""
RANKING_LABEL_LIMITS = (60, 32, 16)
"""How much of a persona's label a ranking line shows: the first that lets the embed fit its room."""
PICK_LIMIT = 300
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


def crowd_embed(
    panel: Sequence[Persona],
    stances: Sequence[Stance | None],
    counts: Mapping[int, int],
    *,
    room: int = CROWD_EMBED_LIMIT,
) -> Embed:
    """The crowd's ranking (persona, votes, share, final stance), the council's tally beside it and how
    far they agree; with no votes, an invitation to vote. At most ``room`` (and :data:`CROWD_EMBED_LIMIT`)
    characters: labels are shortened, then the ranking's tail is left out, as needed."""
    room = min(room, CROWD_EMBED_LIMIT)
    counts = {position: votes for position, votes in counts.items() if 0 <= position < len(panel)}
    ranked = ranking(counts, len(panel))
    for label_limit in RANKING_LABEL_LIMITS:
        lines = [_ranking_line(panel, stances, entry, sum(counts.values()), label_limit) for entry in ranked]
        embed = _embed(panel, stances, counts, lines, label_limit)
        if shown_size(embed) <= room:
            return embed
    while lines:  # the shortest labels still do not fit: leave out the ranking's tail
        lines.pop()
        embed = _embed(
            panel, stances, counts, lines, RANKING_LABEL_LIMITS[-1], left_out=len(ranked) - len(lines)
        )
        if shown_size(embed) <= room:
            return embed
    return _shrunk(embed, room)


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
        parts.append(BADGES[stance])
    return f"**{entry.place}.** {_label(panel[entry.position], label_limit)} — {' · '.join(parts)}"


def _embed(
    panel: Sequence[Persona],
    stances: Sequence[Stance | None],
    counts: Mapping[int, int],
    lines: list[str],
    label_limit: int,
    *,
    left_out: int = 0,
) -> Embed:
    total = sum(counts.values())
    if total == 0:
        description = _(
            "Nobody has voted yet. Which persona convinced you most? Press their button below: "
            "one vote each, and you can change it."
        )
    else:
        if left_out:
            lines = [*lines, _("…and {count} more").format(count=left_out)]
        voted = ngettext("{count} member voted.", "{count} members voted.", total).format(count=total)
        description = (
            "\n".join(lines) + "\n\n" + voted + " " + _("Press a persona below to vote or change your vote.")
        )
    fields: list[EmbedField] = [
        {"name": _("Crowd's pick"), "value": _pick(panel, counts, label_limit), "inline": True},
        {"name": _("Council"), "value": _council(stances), "inline": True},
        {"name": _("Agreement"), "value": _agreement_text(stances, counts), "inline": False},
    ]
    return {
        "title": truncate(_(CROWD_TITLE), TITLE_LIMIT),
        "description": truncate(description, DESCRIPTION_LIMIT),
        "color": CROWD_COLOUR,
        "fields": fields,
        "footer": {
            "text": _(
                "Agreement: the share of the crowd's votes for personas whose final stance is the "
                "council's leading one."
            )
        },
        "grows_to": CROWD_EMBED_LIMIT,
    }


def _pick(panel: Sequence[Persona], counts: Mapping[int, int], label_limit: int) -> str:
    """The persona(s) with the most votes, or a dash before any vote."""
    ranked = ranking(counts, len(panel))
    if not ranked:
        return "—"
    top = [entry for entry in ranked if entry.place == 1]
    return truncate(" · ".join(_label(panel[entry.position], label_limit) for entry in top), PICK_LIMIT)


def _council(stances: Sequence[Stance | None]) -> str:
    known = [stance for stance in stances if stance is not None]
    return stance_tally(known) if known else _("No persona answered.")


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
    ).format(share=round(100 * share), stance=BADGES[leading])
    if share >= MOSTLY:
        verdict = _("The crowd mostly agrees with the council.")
    elif share <= 1 - MOSTLY:
        verdict = _("The crowd mostly disagrees with the council.")
    else:
        verdict = _("The crowd is divided.")
    return f"{measured} {verdict}"


def _shrunk(embed: Embed, room: int) -> Embed:
    """``embed`` cut down to ``room`` characters: without its footer, then its fields, then with its
    description shortened (the last resort of a message with almost no room left)."""
    smaller: Embed = {**embed}
    smaller.pop("footer", None)
    if shown_size(smaller) <= room:
        return smaller
    smaller.pop("fields", None)
    if shown_size(smaller) <= room:
        return smaller
    title = truncate(smaller.get("title", ""), max(1, min(TITLE_LIMIT, room)))
    left = room - discord_length(title)
    shrunk: Embed = {"title": title, "color": CROWD_COLOUR, "grows_to": CROWD_EMBED_LIMIT}
    if left > 1:
        shrunk["description"] = truncate(smaller.get("description", ""), left)
    return shrunk
