"""The crowd's fields of the verdict: the ranking of votes beside the council, how far they agree, and their
bounds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.crowd import (
    CROWD_FIELDS_LIMIT,
    agreement,
    crowd_fields,
    fields_size,
    final_stances,
    leading_stance,
    ranking,
    vote_button_label,
)
from bot.core.debate import PersonaFailure, PersonaReply, Position
from bot.core.llm import FailureKind, TokenUsage
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
    EmbedField,
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


FIELDS_PER_EMBED = 25


def assert_within_discord_limits(fields: list[EmbedField]) -> None:
    assert [field["name"] for field in fields] == ["👥 Crowd", "Agreement"]
    assert [field.get("inline") for field in fields] == [True, False]
    for field in fields:
        assert 0 < discord_length(field["name"]) <= FIELD_NAME_LIMIT
        assert 0 < discord_length(field["value"]) <= FIELD_VALUE_LIMIT
    assert fields_size(fields) <= CROWD_FIELDS_LIMIT


def assert_embed_within_discord_limits(embed: Embed) -> None:
    assert discord_length(embed.get("title", "")) <= TITLE_LIMIT
    assert discord_length(embed.get("description", "")) <= DESCRIPTION_LIMIT
    assert discord_length(embed.get("footer", {"text": ""})["text"]) <= FOOTER_LIMIT
    assert len(embed.get("fields", [])) <= FIELDS_PER_EMBED
    for field in embed.get("fields", []):
        assert 0 < discord_length(field["name"]) <= FIELD_NAME_LIMIT
        assert 0 < discord_length(field["value"]) <= FIELD_VALUE_LIMIT


def field(fields: list[EmbedField], name: str) -> str:
    (value,) = [f["value"] for f in fields if f["name"] == name]
    return value


def crowd(fields: list[EmbedField]) -> str:
    return field(fields, "👥 Crowd")


def test_with_no_votes_it_invites_voting() -> None:
    fields = crowd_fields(PANEL, (FOR, FOR, AGAINST), {})
    assert "Nobody has voted yet" in crowd(fields)
    assert "Press their button below" in crowd(fields)
    assert field(fields, "Agreement").startswith("Nobody has voted yet.\n*")
    assert "council's leading one" in field(fields, "Agreement")
    assert_within_discord_limits(fields)


def test_the_ranking_shows_each_voted_persona_with_votes_share_and_final_stance() -> None:
    fields = crowd_fields(PANEL, (FOR, FOR, AGAINST), {2: 3, 0: 1})
    lines = crowd(fields).split("\n")
    assert lines[:2] == [
        "**1.** ✨ Jedi — 3 votes · 75 % · 🔴 Against",
        "**2.** 🚀 Rebel Pilot — 1 vote · 25 % · 🟢 For",
    ]
    assert lines[-1].startswith("4 members voted.")
    assert field(fields, "Agreement").startswith(
        "25 % of the crowd's votes went to personas who ended 🟢 For, the council's side. "
        "The crowd mostly disagrees with the council.\n*Agreement: the share"
    )


def test_equal_votes_share_a_place_in_panel_order() -> None:
    assert [(r.place, r.position, r.votes) for r in ranking({2: 2, 0: 2, 1: 1}, 3)] == [
        (1, 0, 2),
        (1, 2, 2),
        (3, 1, 1),
    ]
    lines = crowd(crowd_fields(PANEL, (FOR, FOR, AGAINST), {2: 2, 0: 2, 1: 1})).split("\n")
    assert lines[:3] == [
        "**1.** 🚀 Rebel Pilot — 2 votes · 40 % · 🟢 For",
        "**1.** ✨ Jedi — 2 votes · 40 % · 🔴 Against",
        "**3.** 🛡️ Imperial Officer — 1 vote · 20 % · 🟢 For",
    ]


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
    assert says in field(crowd_fields(PANEL, stances, counts), "Agreement")


def test_the_leading_stance_leaves_unknown_and_unanswered_aside_and_a_tie_is_a_split() -> None:
    assert leading_stance((UNKNOWN, UNKNOWN, FOR)) is FOR
    assert leading_stance((FOR, AGAINST, MIXED, None)) is None
    assert leading_stance((None, None)) is None
    assert leading_stance((AGAINST, AGAINST, FOR, FOR, MIXED, AGAINST)) is AGAINST


def test_a_persona_that_never_answered_has_no_stance() -> None:
    positions = [Position(PANEL[2], AGAINST, FOR), Position(PANEL[0], UNKNOWN, UNKNOWN)]
    assert final_stances(PANEL, positions) == (UNKNOWN, None, AGAINST)
    assert crowd(crowd_fields(PANEL, final_stances(PANEL, positions), {1: 1})).startswith(
        "**1.** 🛡️ Imperial Officer — 1 vote · 100 %\n"
    )


def test_names_cannot_ping_or_format() -> None:
    panel = (Persona("@everyone", "🚀", "x", 1), Persona("**bold**", "🛡️", "x", 1))
    text = crowd(crowd_fields(panel, (FOR, AGAINST), {0: 1, 1: 1}))
    assert "@everyone" not in text.replace("@\u200beveryone", "")
    assert "**bold**" not in text


def test_a_vote_button_label_fits_discord_and_shows_a_server_emoji_persona_by_name() -> None:
    assert vote_button_label(PANEL[0]) == "🚀 Rebel Pilot"
    assert vote_button_label(Persona("Judge", "<:gavel:123456789012345678>", "x", 1)) == "Judge"
    for persona in maximal_panel():
        assert discord_length(vote_button_label(persona)) <= 80


def test_ten_maximal_personas_all_voted_for_stay_within_every_limit() -> None:
    panel = maximal_panel()
    counts = {position: 1_000_000 + position for position in range(10)}
    stances = (FOR, AGAINST, MIXED, UNSURE, UNKNOWN, FOR, AGAINST, MIXED, UNSURE, None)
    fields = crowd_fields(panel, stances, counts)
    assert_within_discord_limits(fields)
    assert crowd(fields).count("\n**") == 9, "all ten ranked"


@settings(max_examples=200, deadline=None)
@given(
    room=st.integers(min_value=1, max_value=CROWD_FIELDS_LIMIT + 500),
    votes=st.lists(st.integers(min_value=0, max_value=10**9), min_size=10, max_size=10),
)
def test_the_crowd_fields_never_outgrow_the_room_they_are_given(room: int, votes: list[int]) -> None:
    """Down to their names and a character each: a refresh always has two fields to put back."""
    fields = crowd_fields(maximal_panel(), (FOR,) * 5 + (AGAINST,) * 5, dict(enumerate(votes)), room=room)
    least = sum(discord_length(f["name"]) for f in fields) + 2
    assert fields_size(fields) <= max(room, least)
    for f in fields:
        assert 0 < discord_length(f["value"]) <= FIELD_VALUE_LIMIT


def test_the_crowd_sits_beside_the_council_in_the_verdicts_last_embed_after_who_changed_their_mind() -> None:
    outcome = PersonaReply("Balance.", "gemini-test", 1.0, TokenUsage(1, 1))
    positions = [Position(PANEL[0], AGAINST, MIXED), Position(PANEL[1], FOR, FOR)]
    fields = crowd_fields(PANEL, final_stances(PANEL, positions), {})
    (embed,) = verdict_embeds(outcome, STATS, positions, crowd=fields, crowd_room=CROWD_FIELDS_LIMIT)
    assert embed["title"] == "⚖️ Verdict"
    assert [(f["name"], f.get("inline")) for f in embed["fields"]] == [
        ("Changed their mind", False),
        ("Council", True),
        ("👥 Crowd", True),
        ("Agreement", False),
    ]
    assert embed["fields"][-2:] == fields
    assert "speed-up" in embed["footer"]["text"]
    assert embed["grows_to"] == shown_size(embed) - fields_size(fields) + CROWD_FIELDS_LIMIT


def test_a_failed_verdict_still_carries_the_crowd_fields() -> None:
    failure = PersonaFailure("it timed out", FailureKind.TIMEOUT, 1.0)
    positions = [Position(PANEL[0], FOR, FOR)]
    fields = crowd_fields(PANEL, final_stances(PANEL, positions), {})
    embeds = verdict_embeds(failure, STATS, positions, crowd=fields, crowd_room=CROWD_FIELDS_LIMIT)
    assert embeds[-1]["fields"][-2:] == fields
    assert "No verdict" in embeds[0]["description"]


@pytest.mark.parametrize(
    "verdict_length", [10, 3000, 4000, 4096, 4096 + 3000, 4096 + 3900, 2 * 4096, 3 * 4096]
)
def test_packing_keeps_the_room_the_crowd_fields_may_grow_to_in_the_verdicts_last_message(
    verdict_length: int,
) -> None:
    """However long the verdict, the message the crowd's fields land in stays within Discord's limits with
    the biggest crowd fields there can be in their place; the footer stays on the last embed."""
    panel = maximal_panel()
    outcome = PersonaReply("v" * verdict_length, "gemini-test", 1.0, TokenUsage(1, 1))
    positions = [Position(persona, FOR, AGAINST) for persona in panel]  # every one changed its mind
    initial = crowd_fields(panel, final_stances(panel, positions), {})
    embeds = verdict_embeds(outcome, STATS, positions, crowd=initial, crowd_room=CROWD_FIELDS_LIMIT)
    assert [embed["title"] for embed in embeds if "title" in embed] == ["⚖️ Verdict"]
    messages = pack_messages(embeds)
    last = messages[-1]
    assert last[-1]["fields"][-2:] == initial
    assert "speed-up" in last[-1]["footer"]["text"]
    busiest = crowd_fields(panel, final_stances(panel, positions), dict.fromkeys(range(10), 10**6))
    grown: Embed = {**last[-1], "fields": [*last[-1]["fields"][:-2], *busiest]}
    assert fields_size(busiest) > fields_size(initial)
    assert sum(shown_size(embed) for embed in [*last[:-1], grown]) <= EMBED_CHARS_PER_MESSAGE
    assert len(last) <= EMBEDS_PER_MESSAGE
    for message in messages:
        assert sum(shown_size(embed) for embed in message) <= EMBED_CHARS_PER_MESSAGE
        for embed in message:
            assert_embed_within_discord_limits(embed)
    assert_embed_within_discord_limits(grown)
