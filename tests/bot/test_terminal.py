"""The terminal mode's display: the live progress line, and the live view on a real terminal console."""

from __future__ import annotations

import io
import json

from rich.console import Console

from bot.core.debate import DebateConfig
from bot.core.llm import FailureKind, LLMFailure
from bot.core.personas import DEFAULT_PANEL
from bot.terminal import Ask, Progress, run_in_terminal
from tests.bot.core.scripted_llm import ScriptedLLM, Step

CONFIG = DebateConfig(persona_model="persona-model", verdict_model="verdict-model", persona_timeout_s=5)
QUESTION = "Was the destruction of the Death Star justified?"


def test_the_progress_line_names_who_is_still_thinking_then_the_verdict_being_written() -> None:
    progress = Progress(DEFAULT_PANEL, rounds=2, started_at=10.0, thinking={1, 3})
    assert progress.line(12.34) == (
        "round 1 of 2 · 2/4 answered · thinking: 🛡️ Imperial Officer, 🤖 Droid Analyst · 2.3 s"
    )
    progress.thinking.clear()
    assert progress.line(13.0) == "round 1 of 2 · 4/4 answered · 3.0 s"
    progress.verdict = ""
    assert progress.line(14.0) == "✍️ writing the verdict… 4.0 s"
    assert Progress(DEFAULT_PANEL, rounds=1, started_at=0.0, thinking={0}).line(1.0) == (
        "3/4 answered · thinking: 🚀 Rebel Pilot · 1.0 s"
    )


async def test_on_a_terminal_the_live_view_shows_every_answer_and_the_streamed_verdict() -> None:
    llm = ScriptedLLM(
        {
            persona.name: Step(text=f"{persona.name} has spoken.", delay=0.05 * n)
            for n, persona in enumerate(DEFAULT_PANEL)
        },
        verdict=Step(
            text="## Bottom line\nThe verdict, written in parts.",
            chunks=("## Bottom line\n", "The verdict, ", "written in parts."),
            chunk_delay=0.1,
        ),
    )
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, color_system=None)
    code = await run_in_terminal(Ask(QUESTION), DEFAULT_PANEL, CONFIG, llm, console)
    assert code == 0
    shown = screen.getvalue()
    for persona in DEFAULT_PANEL:
        assert f"{persona.name} has spoken." in shown
    assert "✍️ writing the verdict…" in shown, "the live view showed the verdict being written"
    assert "The verdict, written in parts." in shown
    assert "speed-up" in shown


async def test_without_any_answer_the_exit_code_is_1_and_the_json_says_why(capsys: object) -> None:
    failing = Step(error=LLMFailure("Gemini is down", kind=FailureKind.UNAVAILABLE))
    llm = ScriptedLLM({persona.name: failing for persona in DEFAULT_PANEL})
    console = Console(file=io.StringIO())
    code = await run_in_terminal(Ask(QUESTION, as_json=True), DEFAULT_PANEL, CONFIG, llm, console)
    assert code == 1
    document = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert document["verdict"] is None
    assert document["error"].startswith("no persona answered (Gemini is down")
    assert [answer["error"] for answer in document["answers"]] == ["Gemini is down"] * 4
