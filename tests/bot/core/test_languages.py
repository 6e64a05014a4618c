"""Which language a debate is held in, and how the prompts ask for it."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.debate import DebateConfig, run_debate
from bot.core.languages import LANGUAGES, debate_language, find_language
from bot.core.personas import DEFAULT_PANEL
from bot.core.prompts import (
    VERDICT_SYSTEM_INSTRUCTION,
    persona_system_instruction,
    verdict_system_instruction,
)
from tests.bot.core.scripted_llm import ScriptedLLM

CONFIG = DebateConfig(persona_model="persona-model", verdict_model="verdict-model")
QUESTION = "Was the destruction of the Death Star justified?"


def test_discord_has_thirty_two_locales_and_the_issue_s_five_are_among_them() -> None:
    assert len(LANGUAGES) == 32
    assert {"fr", "de", "es-ES", "pt-BR", "ja"} <= set(LANGUAGES)


@pytest.mark.parametrize(
    ("asker", "pinned", "held_in"),
    [
        ("fr", None, "fr"),
        ("fr", "ja", "ja"),
        ("en-US", None, None),
        ("en-GB", "pt-BR", "pt-BR"),
        ("fr", "en-GB", None),
        ("xx-YY", None, None),
        (None, None, None),
    ],
)
def test_the_server_s_pinned_language_wins_over_the_asker_s_and_english_needs_no_rule(
    asker: str | None, pinned: str | None, held_in: str | None
) -> None:
    language = debate_language(asker, pinned)
    assert (language.code if language else None) == held_in


@pytest.mark.parametrize("typed", ["fr", "FR", "french", "Français", " français "])
def test_a_language_is_found_by_code_or_either_name(typed: str) -> None:
    assert find_language(typed) == LANGUAGES["fr"]


def test_an_unknown_language_is_not_found() -> None:
    assert find_language("Klingon") is None


def test_the_prompts_ask_for_the_language_and_keep_the_judge_s_labels() -> None:
    japanese = LANGUAGES["ja"]
    assert persona_system_instruction(DEFAULT_PANEL[0]).count("Write in") == 0
    assert persona_system_instruction(DEFAULT_PANEL[0], japanese).endswith(
        "- Write in Japanese (日本語), whatever language the question is in."
    )
    assert verdict_system_instruction(None) == VERDICT_SYSTEM_INSTRUCTION
    verdict = verdict_system_instruction(japanese)
    assert verdict.startswith(VERDICT_SYSTEM_INSTRUCTION)
    assert "in Japanese (日本語)" in verdict
    assert "Keep the labels (Persona A, Persona B…) exactly as written." in verdict


async def test_every_request_of_a_debate_asks_for_its_language() -> None:
    llm = ScriptedLLM()
    async with asyncio.timeout(10):
        async for _event in run_debate(QUESTION, DEFAULT_PANEL, llm, CONFIG, language=LANGUAGES["de"]):
            pass
    assert len(llm.calls) == 5
    for call in llm.calls:
        assert "German (Deutsch)" in call.request.system, call.request.model
    assert QUESTION in llm.calls[0].request.prompt
    assert CONFIG.persona_model == llm.calls[0].request.model
