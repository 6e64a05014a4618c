"""``python -m bot ask``: one debate in the terminal, without Discord — the same engine, shown live.

In a terminal, a progress line says who is still thinking while each answer is printed as it lands, then
the verdict grows as it is written; the timing line ends it. Piped, the same text comes out plain, without
the progress line. ``--json`` prints one JSON document for scripts instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markdown import Markdown
from rich.rule import Rule
from rich.spinner import Spinner
from rich.text import Text

from bot.core.debate import (
    DebateConfig,
    DebateEvent,
    DebateFailed,
    DebateStats,
    PersonaFailure,
    PersonaFinished,
    PersonaReply,
    PersonaStarted,
    Position,
    VerdictChunk,
    VerdictFinished,
    VerdictStarted,
    run_debate,
)
from bot.core.llm import LLM
from bot.core.panel import PanelStore
from bot.core.personas import DEFAULT_PANEL, PRESETS, Persona
from bot.core.render import council_tally, stance_badge, stats_footer
from bot.core.validation import check_question, check_rounds

VERDICT_PREVIEW_LINES = 12
"""How many of the verdict's last lines the live display shows while it is written."""

EXIT_DONE = 0
EXIT_NO_VERDICT = 1


@dataclass(frozen=True, slots=True)
class Ask:
    """What ``python -m bot ask`` was asked: the question, the panel's source, the rounds, the output."""

    question: str
    preset: str | None = None
    rounds: int = 1
    guild_id: int | None = None
    as_json: bool = False


async def choose_panel(ask: Ask, store: PanelStore | None) -> tuple[Persona, ...]:
    """The preset's panel, the server's stored panel (``--guild``, from ``store``), or the default."""
    if ask.preset is not None:
        return PRESETS[ask.preset]
    if ask.guild_id is None or store is None:
        return DEFAULT_PANEL
    return (await store.panel(ask.guild_id)).personas


@dataclass
class Progress:
    """What the live display shows: who is still thinking in which round, or the verdict so far."""

    panel: tuple[Persona, ...]
    rounds: int
    started_at: float
    round_number: int = 1
    thinking: set[int] = field(default_factory=set)
    verdict: str | None = None
    """The verdict as written so far, once the judge was asked."""
    finished: bool = False

    def line(self, now: float) -> str:
        elapsed = f"{now - self.started_at:.1f} s"
        if self.verdict is not None:
            return f"✍️ writing the verdict… {elapsed}"
        answered = len(self.panel) - len(self.thinking)
        where = f"round {self.round_number} of {self.rounds} · " if self.rounds > 1 else ""
        line = f"{where}{answered}/{len(self.panel)} answered"
        if self.thinking:
            line += " · thinking: " + ", ".join(self.panel[index].label for index in sorted(self.thinking))
        return f"{line} · {elapsed}"


def answer_heading(persona: Persona, round_number: int, rounds: int) -> str:
    where = f" · round {round_number} of {rounds}" if rounds > 1 else ""
    return f"{persona.label}{where}"


def answer_details(outcome: PersonaReply) -> str:
    """The stance, confidence and key claim line above an answer."""
    details = stance_badge(outcome.stance, outcome.confidence)
    if outcome.key_claim:
        details += f" · {outcome.key_claim}"
    if outcome.cut_off:
        details += " · (cut off)"
    return details


class TerminalView:
    """Shows a debate's events on a console: live when it is a terminal, plain text when it is not."""

    def __init__(self, console: Console, panel: tuple[Persona, ...], rounds: int) -> None:
        self.console = console
        loop = asyncio.get_running_loop()
        self._now = loop.time
        self.progress = Progress(panel, rounds, loop.time())
        self._spinner = Spinner("dots")
        self._live: Live | None = None

    def __enter__(self) -> TerminalView:
        if self.console.is_terminal:
            self._live = Live(
                get_renderable=self._live_view, console=self.console, refresh_per_second=8, transient=True
            )
            self._live.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._live is not None:
            self._live.stop()

    def _live_view(self) -> RenderableType:
        if self.progress.finished:
            return Text("")
        self._spinner.text = Text(self.progress.line(self._now()))
        verdict = self.progress.verdict
        if not verdict:
            return self._spinner
        preview = "\n".join(verdict.splitlines()[-VERDICT_PREVIEW_LINES:])
        return Group(Rule("⚖️ Verdict"), Markdown(preview), self._spinner)

    def _text(self, text: str) -> RenderableType:
        """Model text: Markdown in a terminal, as it was written otherwise."""
        return Markdown(text) if self.console.is_terminal else Text(text)

    def show(self, event: DebateEvent) -> None:
        progress = self.progress
        if isinstance(event, PersonaStarted):
            progress.round_number = event.round
            progress.thinking.add(event.index)
        elif isinstance(event, PersonaFinished):
            progress.thinking.discard(event.index)
            self._show_answer(event)
        elif isinstance(event, VerdictStarted):
            progress.verdict = ""
        elif isinstance(event, VerdictChunk):
            progress.verdict = event.text
        elif isinstance(event, VerdictFinished):
            progress.verdict, progress.finished = None, True
            self._show_verdict(event)
        elif isinstance(event, DebateFailed):
            progress.finished = True
            self.console.print(Text(f"⚠️ No verdict: {event.reason}."))
            self.console.print(Text(stats_footer(event.stats)))

    def _show_answer(self, event: PersonaFinished) -> None:
        heading = answer_heading(event.persona, event.round, self.progress.rounds)
        self.console.print(Rule(heading, align="left"))
        outcome = event.outcome
        if isinstance(outcome, PersonaFailure):
            self.console.print(Text(f"⚠️ No answer: {outcome.reason}."), "")
            return
        self.console.print(Text(answer_details(outcome)))
        self.console.print(self._text(outcome.text))
        self.console.print()

    def _show_verdict(self, event: VerdictFinished) -> None:
        self.console.print(Rule("⚖️ Verdict", align="left"))
        if isinstance(event.outcome, PersonaReply):
            self.console.print(self._text(event.outcome.text))
        else:
            self.console.print(Text(f"⚠️ No verdict: {event.outcome.reason}."))
        if event.positions:
            self.console.print(Text(f"Council: {council_tally(event.positions)}"))
        self.console.print(Text(stats_footer(event.stats)))


def _outcome_document(outcome: PersonaReply | PersonaFailure) -> dict[str, Any]:
    if isinstance(outcome, PersonaFailure):
        latency = round(outcome.latency_s, 3)
        return {"error": outcome.reason, "latency_s": latency, "tokens": outcome.usage.total}
    return {
        "text": outcome.text,
        "model": outcome.model,
        "stance": str(outcome.stance),
        "confidence": outcome.confidence,
        "key_claim": outcome.key_claim,
        "cut_off": outcome.cut_off,
        "latency_s": round(outcome.latency_s, 3),
        "tokens": outcome.usage.total,
    }


def _stats_document(stats: DebateStats) -> dict[str, Any]:
    return {
        "wall_s": round(stats.wall_s, 3),
        "persona_sum_s": round(stats.persona_sum_s, 3),
        "verdict_s": round(stats.verdict_s, 3),
        "speedup": round(stats.speedup, 2),
        "tokens": stats.usage.total,
        "thinking_tokens": stats.usage.thoughts,
        "answered": stats.answered,
    }


def _positions_document(positions: Sequence[Position]) -> list[dict[str, str]]:
    return [
        {"persona": position.persona.name, "stance": str(position.stance), "first": str(position.first)}
        for position in positions
    ]


class JsonView:
    """Collects a debate's events into one JSON document, printed at the end."""

    def __init__(self, question: str, panel: tuple[Persona, ...], rounds: int) -> None:
        self.document: dict[str, Any] = {
            "question": question,
            "rounds": rounds,
            "panel": [{"name": persona.name, "emoji": persona.emoji} for persona in panel],
            "answers": [],
            "verdict": None,
            "error": None,
            "positions": [],
            "stats": None,
        }

    def show(self, event: DebateEvent) -> None:
        if isinstance(event, PersonaFinished):
            answer = {"round": event.round, "persona": event.persona.name, **_outcome_document(event.outcome)}
            self.document["answers"].append(answer)
        elif isinstance(event, VerdictFinished):
            if isinstance(event.outcome, PersonaReply):
                self.document["verdict"] = _outcome_document(event.outcome)
            else:
                self.document["error"] = f"no verdict ({event.outcome.reason})"
            self.document["positions"] = _positions_document(event.positions)
            self.document["stats"] = _stats_document(event.stats)
        elif isinstance(event, DebateFailed):
            self.document["error"] = event.reason
            self.document["stats"] = _stats_document(event.stats)

    def text(self) -> str:
        return json.dumps(self.document, ensure_ascii=False, indent=2)


async def run_in_terminal(
    ask: Ask, panel: tuple[Persona, ...], config: DebateConfig, llm: LLM, console: Console
) -> int:
    """Run the debate ``ask`` describes with ``panel``, showing it on ``console``; the exit code (0: the
    verdict was written)."""
    question = check_question(ask.question)
    rounds = check_rounds(ask.rounds)
    run = run_debate(question, panel, llm, config, rounds=rounds)
    verdict = False
    if ask.as_json:
        collector = JsonView(question, panel, rounds)
        async with contextlib.aclosing(run) as events:
            async for event in events:
                collector.show(event)
        print(collector.text())
        verdict = collector.document["verdict"] is not None
        return EXIT_DONE if verdict else EXIT_NO_VERDICT
    console.print(Text(f"❓ {question}", style="bold"))
    console.print(Text("Panel: " + " · ".join(persona.label for persona in panel)))
    with TerminalView(console, panel, rounds) as view:
        async with contextlib.aclosing(run) as events:
            async for event in events:
                view.show(event)
                if isinstance(event, VerdictFinished):
                    verdict = isinstance(event.outcome, PersonaReply)
    return EXIT_DONE if verdict else EXIT_NO_VERDICT
