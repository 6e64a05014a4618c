"""The concurrent debate engine: every persona at once, each result as it lands, then the verdict."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field

from bot.core.llm import (
    LLM,
    Completion,
    FailureKind,
    LLMFailure,
    LLMRequest,
    Thinking,
    TokenUsage,
    output_budget,
)
from bot.core.personas import Persona
from bot.core.prompts import (
    VERDICT_SYSTEM_INSTRUCTION,
    HeardReply,
    persona_prompt,
    persona_system_instruction,
    verdict_prompt,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DebateConfig:
    """Models, thinking levels and budgets for one debate. The answer budgets are in tokens; the
    requests' output limits add each role's thinking allowance on top."""

    persona_model: str
    verdict_model: str
    persona_timeout_s: float = 60.0
    verdict_timeout_s: float = 90.0
    persona_thinking: Thinking = Thinking.MINIMAL
    verdict_thinking: Thinking = Thinking.LOW
    persona_answer_tokens: int = 1024
    verdict_answer_tokens: int = 2048

    @property
    def persona_max_output_tokens(self) -> int:
        return output_budget(self.persona_answer_tokens, self.persona_thinking)

    @property
    def verdict_max_output_tokens(self) -> int:
        return output_budget(self.verdict_answer_tokens, self.verdict_thinking)


@dataclass(frozen=True, slots=True)
class PersonaReply:
    """A persona answered. ``cut_off``: the model hit its output limit; the text is kept anyway."""

    text: str
    model: str
    latency_s: float
    usage: TokenUsage
    attempts: int = 1
    cut_off: bool = False


@dataclass(frozen=True, slots=True)
class PersonaFailure:
    """A persona could not answer; ``reason`` is safe to show users."""

    reason: str
    kind: FailureKind
    latency_s: float
    usage: TokenUsage = TokenUsage()
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class DebateStats:
    """Timings and tokens of a whole debate."""

    wall_s: float
    persona_sum_s: float
    verdict_s: float
    usage: TokenUsage
    answered: int
    panel_size: int

    @property
    def speedup(self) -> float:
        """How much faster than asking one after another: (Σ persona + verdict) / wall."""
        return (self.persona_sum_s + self.verdict_s) / self.wall_s if self.wall_s > 0 else 1.0


@dataclass(frozen=True, slots=True)
class PersonaStarted:
    index: int
    persona: Persona


@dataclass(frozen=True, slots=True)
class PersonaFinished:
    index: int
    persona: Persona
    outcome: PersonaReply | PersonaFailure


@dataclass(frozen=True, slots=True)
class VerdictChunk:
    """The verdict so far (cumulative text), while it streams."""

    text: str


@dataclass(frozen=True, slots=True)
class VerdictFinished:
    """The verdict, or why there is none although some personas answered."""

    outcome: PersonaReply | PersonaFailure
    stats: DebateStats


@dataclass(frozen=True, slots=True)
class DebateFailed:
    """No persona answered, so no verdict was asked for."""

    reason: str
    stats: DebateStats


DebateEvent = PersonaStarted | PersonaFinished | VerdictChunk | VerdictFinished | DebateFailed


@dataclass
class _Clock:
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)
    start: float = 0.0

    def __post_init__(self) -> None:
        self.start = self.loop.time()

    def now(self) -> float:
        return self.loop.time()


def _failure(error: BaseException, timeout_s: float, latency_s: float) -> PersonaFailure:
    if isinstance(error, LLMFailure):
        return PersonaFailure(error.reason, error.kind, latency_s, error.usage, error.attempts)
    if isinstance(error, TimeoutError):
        return PersonaFailure(f"timed out after {timeout_s:g} s", FailureKind.TIMEOUT, latency_s)
    return PersonaFailure("unexpected error", FailureKind.NETWORK, latency_s)


def _reply(completion: Completion, latency_s: float) -> PersonaReply:
    return PersonaReply(
        text=completion.text,
        model=completion.model,
        latency_s=latency_s,
        usage=completion.usage,
        attempts=completion.attempts,
        cut_off=completion.cut_off,
    )


async def _ask_persona(
    index: int, persona: Persona, question: str, llm: LLM, config: DebateConfig, limiter: asyncio.Semaphore
) -> PersonaFinished:
    request = LLMRequest(
        model=persona.model or config.persona_model,
        system=persona_system_instruction(persona),
        prompt=persona_prompt(question),
        timeout_s=config.persona_timeout_s,
        max_output_tokens=config.persona_max_output_tokens,
        thinking=config.persona_thinking,
    )
    async with limiter:
        clock = _Clock()
        try:
            async with asyncio.timeout(config.persona_timeout_s):
                completion = await llm.generate(request)
        except Exception as error:
            if not isinstance(error, LLMFailure | TimeoutError):
                log.exception("persona %r failed unexpectedly", persona.name)
            outcome: PersonaReply | PersonaFailure = _failure(
                error, config.persona_timeout_s, clock.now() - clock.start
            )
        else:
            outcome = _reply(completion, clock.now() - clock.start)
    return PersonaFinished(index, persona, outcome)


async def _stream_verdict(
    request: LLMRequest,
    llm: LLM,
    limiter: asyncio.Semaphore,
    snapshots: asyncio.Queue[str | PersonaReply | PersonaFailure],
) -> None:
    """Stream the verdict into ``snapshots``: cumulative texts, then the outcome. Runs as its own task,
    so its timeout covers the model alone, never the consumer's work between events."""
    async with limiter:
        clock = _Clock()
        try:
            async with asyncio.timeout(request.timeout_s), contextlib.aclosing(llm.stream(request)) as stream:
                async for snapshot in stream:
                    if snapshot.finish is not None:
                        snapshots.put_nowait(_reply(snapshot, clock.now() - clock.start))
                        return
                    snapshots.put_nowait(snapshot.text)
            raise LLMFailure("the verdict stream ended early", kind=FailureKind.NETWORK)
        except Exception as error:
            if not isinstance(error, LLMFailure | TimeoutError):
                log.exception("verdict failed unexpectedly")
            snapshots.put_nowait(_failure(error, request.timeout_s, clock.now() - clock.start))


async def run_debate(
    question: str,
    panel: Sequence[Persona],
    llm: LLM,
    config: DebateConfig,
    *,
    limiter: asyncio.Semaphore | None = None,
) -> AsyncGenerator[DebateEvent, None]:
    """Run one debate, yielding events as they happen.

    Every persona call starts at once (bounded by ``limiter``, which a caller may share); each
    :class:`PersonaFinished` is yielded the moment its call ends, in completion order. A failing persona
    never disturbs the others. The verdict, which sees only the replies, starts as soon as the last
    persona ends, before that persona's event is even handed out; while it streams, the newest text is
    yielded as a :class:`VerdictChunk`. If nobody answered, a :class:`DebateFailed` ends the debate
    without a verdict call. Closing the iterator early cancels whatever is still running.
    """
    clock = _Clock()
    limiter = limiter or asyncio.Semaphore(max(1, len(panel)))
    tasks = [
        asyncio.create_task(_ask_persona(index, persona, question, llm, config, limiter), name=persona.name)
        for index, persona in enumerate(panel)
    ]
    snapshots: asyncio.Queue[str | PersonaReply | PersonaFailure] = asyncio.Queue()
    verdict_task: asyncio.Task[None] | None = None
    finished: list[PersonaFinished] = []
    try:
        for index, persona in enumerate(panel):
            yield PersonaStarted(index, persona)
        for next_done in asyncio.as_completed(tasks):
            result = await next_done
            finished.append(result)
            if len(finished) == len(tasks) and any(isinstance(f.outcome, PersonaReply) for f in finished):
                verdict_task = asyncio.create_task(
                    _stream_verdict(_verdict_request(question, finished, config), llm, limiter, snapshots),
                    name="verdict",
                )
            yield result

        persona_sum = sum(result.outcome.latency_s for result in finished)
        usage = sum((result.outcome.usage for result in finished), TokenUsage())
        answered = sum(isinstance(result.outcome, PersonaReply) for result in finished)

        def stats(verdict: PersonaReply | PersonaFailure | None = None) -> DebateStats:
            return DebateStats(
                wall_s=clock.now() - clock.start,
                persona_sum_s=persona_sum,
                verdict_s=verdict.latency_s if verdict else 0.0,
                usage=usage + verdict.usage if verdict else usage,
                answered=answered,
                panel_size=len(panel),
            )

        if verdict_task is None:
            reasons = sorted(
                {result.outcome.reason for result in finished if isinstance(result.outcome, PersonaFailure)}
            )
            yield DebateFailed("no persona answered (" + "; ".join(reasons) + ")", stats())
            return
        while True:
            item = await snapshots.get()
            while isinstance(item, str) and not snapshots.empty():
                item = snapshots.get_nowait()  # a slow consumer only needs the newest text
            if isinstance(item, str):
                yield VerdictChunk(item)
            else:
                yield VerdictFinished(item, stats(item))
                return
    finally:
        for task in tasks:
            task.cancel()
        if verdict_task is not None:
            verdict_task.cancel()


def _verdict_request(question: str, finished: Sequence[PersonaFinished], config: DebateConfig) -> LLMRequest:
    in_panel_order = sorted(finished, key=lambda result: result.index)
    heard = [
        HeardReply(result.persona, result.outcome.text, result.outcome.cut_off)
        for result in in_panel_order
        if isinstance(result.outcome, PersonaReply)
    ]
    unheard = [result.persona for result in in_panel_order if isinstance(result.outcome, PersonaFailure)]
    return LLMRequest(
        model=config.verdict_model,
        system=VERDICT_SYSTEM_INSTRUCTION,
        prompt=verdict_prompt(question, heard, unheard),
        timeout_s=config.verdict_timeout_s,
        max_output_tokens=config.verdict_max_output_tokens,
        thinking=config.verdict_thinking,
    )
