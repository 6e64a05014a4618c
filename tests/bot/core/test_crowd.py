"""The crowd embed: the ranking of votes, the council beside it, how far they agree, and its bounds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.crowd import (
    CROWD_EMBED_LIMIT,
    agreement,
    crowd_embed,
    final_stances,
    leading_stance,
    ranking,
    vote_button_label,
)
from bot.core.debate import PersonaReply, Position
from bot.core.llm import TokenUsage
from bot.core.personas import Persona
from bot.core.render import (
    DESCRIPTION_LIMIT,
    EMBED_CHARS_PER_MESSAGE,
    EMBEDS_PER_MESSAGE,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FOOTER_LIMIT,
    TITLE_LIMIT,
    Embed,
    pack_messages,
    shown_size,
    verdict_embeds,
)
from bot.core.stances import Stance
from bot.core.text import discord_length
from bot.core.validation import NAME_MAX_LENGTH
from tests.bot.core.test_render import STATS

FOR, AGAINST, MIXED, UNSURE, UNKNOWN = Stance.FOR, Stance.AGAINST, Stance.MIXED, Stance.UNSURE, Stance.UNKNOWN
PANEL = (
    Persona("Rebel Pilot", "🚀", "Fly.", 0xE74C3C),
    Persona("Imperial Officer", "🛡️", "Order.", 0x95A5A6),
    Persona("Jedi", "✨", "Balance.", 0x3498DB),
)
LONGEST_EMOJI = "👨\u200d👩\u200d👧\u200d👦" * 9  # 99 UTF-16 units of one "emoji" field: any text fits
"""A persona's emoji is arbitrary text as far as rendering is concerned."""


def maximal_panel() -> tuple[Persona, ...]:
    """Ten personas whose labels are as long as can be, every one needing UTF-16 surrogates."""
    return tuple(
        Persona(f"{index}" + "𝕏" * ((NAME_MAX_LENGTH - 1) // 2), LONGEST_EMOJI, "Argue.", 0x123456)
        for index in range(10)
    )


def assert_within_discord_limits(embed: Embed) -> None:
    assert 0 < discord_length(embed.get("title", "")) <= TITLE_LIMIT
    assert discord_length(embed.get("description", "")) <= DESCRIPTION_LIMIT
    assert discord_length(embed.get("footer", {"text": ""})["text"]) <= FOOTER_LIMIT
    for field in embed.get("fields", []):
        assert 0 < discord_length(field["name"]) <= FIELD_NAME_LIMIT
        assert 0 < discord_length(field["value"]) <= FIELD_VALUE_LIMIT
    assert shown_size(embed) <= CROWD_EMBED_LIMIT


def field(embed: Embed, name: str) -> str:
    (value,) = [f["value"] for f in embed.get("fields", []) if f["name"] == name]
    return value


def test_with_no_votes_it_invites_voting_and_shows_the_council() -> None:
    embed = crowd_embed(PANEL, (FOR, FOR, AGAINST), {})
    assert embed["title"] == "👥 The crowd"
    assert "Nobody has voted yet" in embed["description"]
    assert "Press their button below" in embed["description"]
    assert field(embed, "Council") == "🟢 For 2 · 🔴 Against 1"
    assert field(embed, "Crowd's pick") == "—"
    assert field(embed, "Agreement") == "Nobody has voted yet."
    assert "council's leading one" in embed["footer"]["text"]
    assert embed["grows_to"] == CROWD_EMBED_LIMIT
    assert_within_discord_limits(embed)


def test_the_ranking_shows_each_voted_persona_with_votes_share_and_final_stance() -> None:
    embed = crowd_embed(PANEL, (FOR, FOR, AGAINST), {2: 3, 0: 1})
    lines = embed["description"].split("\n")
    assert lines[:2] == [
        "**1.** ✨ Jedi — 3 votes · 75 % · 🔴 Against",
        "**2.** 🚀 Rebel Pilot — 1 vote · 25 % · 🟢 For",
    ]
    assert lines[-1].startswith("4 members voted.")
    assert field(embed, "Crowd's pick") == "✨ Jedi"
    assert field(embed, "Council") == "🟢 For 2 · 🔴 Against 1"
    assert field(embed, "Agreement") == (
        "25 % of the crowd's votes went to personas who ended 🟢 For, the council's side. "
        "The crowd mostly disagrees with the council."
    )


def test_equal_votes_share_a_place_in_panel_order() -> None:
    assert [(r.place, r.position, r.votes) for r in ranking({2: 2, 0: 2, 1: 1}, 3)] == [
        (1, 0, 2),
        (1, 2, 2),
        (3, 1, 1),
    ]
    embed = crowd_embed(PANEL, (FOR, FOR, AGAINST), {2: 2, 0: 2, 1: 1})
    assert field(embed, "Crowd's pick") == "🚀 Rebel Pilot · ✨ Jedi"
    assert "**1.** ✨ Jedi" in embed["description"]


@pytest.mark.parametrize(
    ("stances", "counts", "share", "says"),
    [
        (
            (FOR, FOR, AGAINST),
            {0: 2, 1: 1},
            1.0,
            "100 % of the crowd's votes went to personas who ended 🟢 For",
        ),
        ((FOR, FOR, AGAINST), {0: 1, 2: 1}, 0.5, "The crowd is divided."),
        ((FOR, AGAINST, None), {0: 3}, None, "The council is split (🟢 For 1 · 🔴 Against 1)"),
        ((UNKNOWN, UNKNOWN, None), {0: 3}, None, "No persona took a stance"),
        ((MIXED, MIXED, UNKNOWN), {0: 1}, 1.0, "The crowd mostly agrees with the council."),
        ((UNSURE, UNKNOWN, UNKNOWN), {1: 1}, 0.0, "0 % of the crowd's votes"),
    ],
)
def test_agreement_is_the_share_of_votes_for_personas_on_the_councils_leading_side(
    stances: tuple[Stance | None, ...], counts: dict[int, int], share: float | None, says: str
) -> None:
    assert agreement(stances, counts) == share
    assert says in field(crowd_embed(PANEL, stances, counts), "Agreement")


def test_the_leading_stance_leaves_unknown_and_unanswered_aside_and_a_tie_is_a_split() -> None:
    assert leading_stance((UNKNOWN, UNKNOWN, FOR)) is FOR
    assert leading_stance((FOR, AGAINST, MIXED, None)) is None
    assert leading_stance((None, None)) is None
    assert leading_stance((AGAINST, AGAINST, FOR, FOR, MIXED, AGAINST)) is AGAINST


def test_a_persona_that_never_answered_has_no_stance_and_the_council_says_so_when_none_did() -> None:
    positions = [Position(PANEL[2], AGAINST, FOR), Position(PANEL[0], UNKNOWN, UNKNOWN)]
    assert final_stances(PANEL, positions) == (UNKNOWN, None, AGAINST)
    assert field(crowd_embed(PANEL, (None, None, None), {}), "Council") == "No persona answered."


def test_names_cannot_ping_or_format() -> None:
    panel = (Persona("@everyone", "🚀", "x", 1), Persona("**bold**", "🛡️", "x", 1))
    embed = crowd_embed(panel, (FOR, AGAINST), {0: 1, 1: 1})
    assert "@everyone" not in embed["description"].replace("@\u200beveryone", "")
    assert "**bold**" not in embed["description"]


def test_a_vote_button_label_fits_discord_and_shows_a_server_emoji_persona_by_name() -> None:
    assert vote_button_label(PANEL[0]) == "🚀 Rebel Pilot"
    assert vote_button_label(Persona("Judge", "<:gavel:123456789012345678>", "x", 1)) == "Judge"
    for persona in maximal_panel():
        assert discord_length(vote_button_label(persona)) <= 80


def test_ten_maximal_personas_all_voted_for_stay_within_every_limit() -> None:
    panel = maximal_panel()
    counts = {position: 1_000_000 + position for position in range(10)}
    stances = (FOR, AGAINST, MIXED, UNSURE, UNKNOWN, FOR, AGAINST, MIXED, UNSURE, None)
    embed = crowd_embed(panel, stances, counts)
    assert_within_discord_limits(embed)
    assert embed["description"].count("\n**") == 9, "all ten ranked"


@settings(max_examples=200, deadline=None)
@given(
    room=st.integers(min_value=1, max_value=CROWD_EMBED_LIMIT + 500),
    votes=st.lists(st.integers(min_value=0, max_value=10**9), min_size=10, max_size=10),
)
def test_the_crowd_embed_never_outgrows_the_room_it_is_given(room: int, votes: list[int]) -> None:
    embed = crowd_embed(maximal_panel(), (FOR,) * 5 + (AGAINST,) * 5, dict(enumerate(votes)), room=room)
    assert shown_size(embed) <= max(room, 1)
    assert_within_discord_limits(embed)


@pytest.mark.parametrize("verdict_length", [10, 3000, 4000, 4096 + 3000, 4096 + 3900, 3 * 4096])
def test_packing_keeps_the_room_the_crowd_embed_may_grow_to_in_the_verdicts_last_message(
    verdict_length: int,
) -> None:
    """However long the verdict, the message the crowd embed lands in stays within Discord's limits with
    the biggest crowd embed there can be in its place."""
    panel = maximal_panel()
    outcome = PersonaReply("v" * verdict_length, "gemini-test", 1.0, TokenUsage(1, 1))
    positions = [Position(persona, FOR, FOR) for persona in panel]
    initial = crowd_embed(panel, final_stances(panel, positions), {})
    messages = pack_messages([*verdict_embeds(outcome, STATS, positions), initial])
    last = messages[-1]
    assert last[-1] is initial
    busiest = crowd_embed(panel, final_stances(panel, positions), dict.fromkeys(range(10), 10**6))
    others = sum(shown_size(embed) for embed in last[:-1])
    assert others + shown_size(busiest) <= EMBED_CHARS_PER_MESSAGE
    assert len(last) <= EMBEDS_PER_MESSAGE
    for message in messages:
        assert sum(shown_size(embed) for embed in message) <= EMBED_CHARS_PER_MESSAGE
