"""The controls under a verdict as Discord receives them: a vote button per persona in rows 0 and 1, the
debate's actions in row 2, every label and custom_id within Discord's limits."""

from __future__ import annotations

from bot.core.personas import DEFAULT_PANEL, Persona
from bot.core.text import discord_length
from bot.core.validation import NAME_MAX_LENGTH
from bot.ui import VERDICT_ACTIONS_ROW, verdict_controls


async def test_a_panel_of_ten_maximal_names_fills_two_rows_of_votes_above_the_actions() -> None:
    panel = tuple(
        Persona(f"{n}" + "𝕏" * (NAME_MAX_LENGTH - 1), "👨\u200d👩\u200d👧\u200d👦" * 9, "Argue.", 1)
        for n in range(10)
    )
    rows = verdict_controls(123456789012345678, panel).to_components()
    assert len(rows) == 3
    votes = [button for row in rows[:2] for button in row["components"]]
    assert [len(row["components"]) for row in rows[:2]] == [5, 5]
    assert [button["custom_id"] for button in votes] == [
        f"parley:vote:123456789012345678:{n}" for n in range(10)
    ]
    assert all(0 < discord_length(button["label"]) <= 80 for button in votes)
    assert all(len(button["custom_id"]) <= 100 for button in votes)
    assert all("emoji" not in button for button in votes), "persona emoji may be any text: kept in the label"
    assert [button["custom_id"] for button in rows[VERDICT_ACTIONS_ROW]["components"]] == [
        "parley:round:123456789012345678",
        "parley:followup:123456789012345678",
        "parley:transcript:123456789012345678",
    ]


async def test_each_vote_button_is_labelled_with_its_persona() -> None:
    rows = verdict_controls(7, DEFAULT_PANEL).to_components()
    assert [button["label"] for button in rows[0]["components"]] == [p.label for p in DEFAULT_PANEL]
    assert [button["custom_id"] for button in rows[1]["components"]] == [
        "parley:round:7",
        "parley:followup:7",
        "parley:transcript:7",
    ]
