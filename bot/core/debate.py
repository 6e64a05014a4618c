"""The concurrent debate engine: every persona at once, round by round, each result as it lands, then
the verdict of a judge who reads the answers anonymised."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field

from bot.core.judging import Labels, label_for, shuffled_order
from bot.core.languages import Language
from bot.core.llm import (
    LLM,
    Completion,
    FailureKind,
    Grounding,
    LLMFailure,
    LLMRequest,
    Thinking,
    TokenUsage,
    output_budget,
)
from bot.core.personas import Persona
from bot.core.prompts import (
    EarlierRound,
    HeardReply,
    PreviousDebate,
    earlier_round_blocks,
    persona_prompt,
    persona_system_instruction,
    previous_debate_blocks,
    rebuttal_prompt,
    verdict_prompt,
    verdict_system_instruction,
)
from bot.core.stances import ANSWER_SCHEMA, Stance, read_answer
from bot.core.translation import N_
from bot.core.validation import MAX_ROUNDS

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DebateConfig:
    """Models, thinking levels and budgets for one debate. The answer budgets are in tokens; the
    requests' output limits add each role's thinking allowance on top. ``verdict_fallback_model`` writes
    the verdict when the verdict model fails after its retries."""

    persona_model: str
    verdict_model: str
    persona_timeout_s: float = 60.0
    verdict_timeout_s: float = 90.0
    persona_thinking: Thinking = Thinking.MINIMAL
    verdict_thinking: Thinking = Thinking.LOW
    persona_answer_tokens: int = 1024
    verdict_answer_tokens: int = 2048
    verdict_fallback_model: str | None = None

    @property
    def persona_max_output_tokens(self) -> int:
        return output_budget(self.persona_answer_tokens, self.persona_thinking)

    @property
    def verdict_max_output_tokens(self) -> int:
        return output_budget(self.verdict_answer_tokens, self.verdict_thinking)


@dataclass(frozen=True, slots=True)
class PersonaReply:
    """A persona answered. ``cut_off``: the model hit its output limit; the text is kept anyway.

    ``stance``, ``confidence`` and ``key_claim`` come from the persona's structured answer (``unknown``,
    None and None when it could not be read); a verdict has none of them. ``grounding``: the sources and
    Google Search suggestions of a grounded answer.
    """

    text: str
    model: str
    latency_s: float
    usage: TokenUsage
    attempts: int = 1
    cut_off: bool = False
    stance: Stance = Stance.UNKNOWN
    confidence: float | None = None
    key_claim: str | None = None
    grounding: Grounding | None = None


@dataclass(frozen=True, slots=True)
class PersonaFailure:
    """A persona (or the judge) could not answer; ``reason`` is safe to show users."""

    reason: str
    kind: FailureKind
    latency_s: float
    usage: TokenUsage = TokenUsage()
    attempts: int = 1
    model: str | None = None


@dataclass(frozen=True, slots=True)
class DebateStats:
    """Timings and tokens of a whole debate. ``persona_sum_s`` adds up every persona call of every round."""

    wall_s: float
    persona_sum_s: float
    verdict_s: float
    usage: TokenUsage
    answered: int
    panel_size: int
    rounds: int = 1

    @property
    def speedup(self) -> float:
        """How much faster than asking one after another: (Σ persona + verdict) / wall."""
        return (self.persona_sum_s + self.verdict_s) / self.wall_s if self.wall_s > 0 else 1.0


@dataclass(frozen=True, slots=True)
class Position:
    """Where a persona ended up: its final stance, and the stance it started the debate with."""

    persona: Persona
    stance: Stance
    first: Stance

    @property
    def changed(self) -> bool:
        """Whether it changed its mind between known stances."""
        return Stance.UNKNOWN not in (self.stance, self.first) and self.stance != self.first


@dataclass(frozen=True, slots=True)
class PersonaStarted:
    index: int
    persona: Persona
    round: int = 1


@dataclass(frozen=True, slots=True)
class PersonaFinished:
    """A persona's call of round ``round`` ended. ``earlier``: its stance in the round before (None in
    round 1, or if it had not answered)."""

    index: int
    persona: Persona
    outcome: PersonaReply | PersonaFailure
    round: int = 1
    earlier: Stance | None = None


@dataclass(frozen=True, slots=True)
class VerdictStarted:
    """The judge was asked. ``order``: panel indexes in the order it reads them (``Persona A`` first)."""

    order: tuple[int, ...]
    model: str


@dataclass(frozen=True, slots=True)
class VerdictChunk:
    """The verdict so far (cumulative text, names in place of the labels), while it streams. When the
    fallback model takes over, the text starts again (and may be shorter than the last chunk)."""

    text: str


@dataclass(frozen=True, slots=True)
class VerdictFinished:
    """The verdict (names in place of the labels), or why there is none although some personas
    answered. ``fallback_from``: the verdict model's failure, when the fallback model wrote it."""

    outcome: PersonaReply | PersonaFailure
    stats: DebateStats
    positions: tuple[Position, ...] = ()
    fallback_from: PersonaFailure | None = None


@dataclass(frozen=True, slots=True)
class DebateFailed:
    """No persona answered, so no verdict was asked for."""

    reason: str
    stats: DebateStats


DebateEvent = (
    PersonaStarted | PersonaFinished | VerdictStarted | VerdictChunk | VerdictFinished | DebateFailed
)


@dataclass
class _Clock:
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)
    start: float = 0.0

    def __post_init__(self) -> None:
        self.start = self.loop.time()

    def now(self) -> float:
        return self.loop.time()


def _failure(error: BaseException, request: LLMRequest, latency_s: float) -> PersonaFailure:
    if isinstance(error, LLMFailure):
        return PersonaFailure(error.reason, error.kind, latency_s, error.usage, error.attempts, request.model)
    if isinstance(error, TimeoutError):
        reason = f"timed out after {request.timeout_s:g} s"
        return PersonaFailure(reason, FailureKind.TIMEOUT, latency_s, model=request.model)
    return PersonaFailure(N_("unexpected error"), FailureKind.NETWORK, latency_s, model=request.model)


def _reply(completion: Completion, latency_s: float) -> PersonaReply:
    return PersonaReply(
        text=completion.text,
        model=completion.model,
        latency_s=latency_s,
        usage=completion.usage,
        attempts=completion.attempts,
        cut_off=completion.cut_off,
        grounding=completion.grounding,
    )


def _persona_outcome(completion: Completion, latency_s: float) -> PersonaReply | PersonaFailure:
    """A persona's structured reply read into its answer and stance; never raw JSON, never a lost answer."""
    answer = read_answer(completion.text)
    if not answer.text.strip():
        reason = (
            N_("its reply was cut off before the answer")
            if completion.cut_off
            else N_("its reply was unreadable")
        )
        return PersonaFailure(
            reason, FailureKind.EMPTY, latency_s, completion.usage, completion.attempts, completion.model
        )
    return dataclasses.replace(
        _reply(completion, latency_s),
        text=answer.text,
        stance=answer.stance,
        confidence=answer.confidence,
        key_claim=answer.key_claim,
    )


async def _ask_persona(
    index: int,
    persona: Persona,
    round_number: int,
    request: LLMRequest,
    llm: LLM,
    limiter: asyncio.Semaphore,
    earlier: Stance | None,
) -> PersonaFinished:
    async with limiter:
        clock = _Clock()
        try:
            async with asyncio.timeout(request.timeout_s):
                completion = await llm.generate(request)
        except Exception as error:
            if not isinstance(error, LLMFailure | TimeoutError):
                log.exception("persona %r failed unexpectedly", persona.name)
            outcome: PersonaReply | PersonaFailure = _failure(error, request, clock.now() - clock.start)
        else:
            outcome = _persona_outcome(completion, clock.now() - clock.start)
    return PersonaFinished(index, persona, outcome, round_number, earlier)


async def _stream_one(
    request: LLMRequest, llm: LLM, show_text: Callable[[str], None]
) -> PersonaReply | PersonaFailure:
    """Stream one verdict request, handing each cumulative text to ``show_text``; return its outcome."""
    clock = _Clock()
    try:
        async with asyncio.timeout(request.timeout_s), contextlib.aclosing(llm.stream(request)) as stream:
            async for snapshot in stream:
                if snapshot.finish is not None:
                    return _reply(snapshot, clock.now() - clock.start)
                show_text(snapshot.text)
        raise LLMFailure(N_("the verdict stream ended early"), kind=FailureKind.NETWORK)
    except Exception as error:
        if not isinstance(error, LLMFailure | TimeoutError):
            log.exception("verdict failed unexpectedly")
        return _failure(error, request, clock.now() - clock.start)


@dataclass(frozen=True, slots=True)
class _JudgeResult:
    outcome: PersonaReply | PersonaFailure
    fallback_from: PersonaFailure | None
    spent_s: float
    usage: TokenUsage


async def _judge(
    requests: Sequence[LLMRequest],
    llm: LLM,
    limiter: asyncio.Semaphore,
    snapshots: asyncio.Queue[str | _JudgeResult],
) -> None:
    """Stream the verdict into ``snapshots``: cumulative texts, then the result. The verdict model goes
    first; when it fails, each fallback in turn starts again. Runs as its own task, so its timeouts cover
    the models alone, never the consumer's work between events."""
    failures: list[PersonaFailure] = []
    async with limiter:
        for request in requests:
            outcome = await _stream_one(request, llm, snapshots.put_nowait)
            spent = sum(failure.latency_s for failure in failures) + outcome.latency_s
            usage = sum((failure.usage for failure in failures), outcome.usage)
            if isinstance(outcome, PersonaReply) or request is requests[-1]:
                first_failure = failures[0] if failures else None
                snapshots.put_nowait(_JudgeResult(outcome, first_failure, spent, usage))
                return
            log.warning("verdict model %s failed (%s); the fallback writes it", request.model, outcome.reason)
            failures.append(outcome)


@dataclass
class _Round:
    """One round's calls and what has come back of them."""

    number: int
    tasks: list[asyncio.Task[PersonaFinished]]
    finished: list[PersonaFinished] = field(default_factory=list)


class _Debate:
    """The state of one debate across its rounds (earlier ones included): every answer by round, every
    persona's latest reply and first stance, totals."""

    def __init__(
        self,
        question: str,
        panel: Sequence[Persona],
        config: DebateConfig,
        language: Language | None,
        earlier: Sequence[EarlierRound] = (),
        previous: PreviousDebate | None = None,
    ) -> None:
        self.question = question
        self.language = language
        self.panel = tuple(panel)
        self.config = config
        self.previous = previous
        self.by_round: dict[int, dict[int, HeardReply]] = {}
        self.latest: dict[int, HeardReply] = {}
        self.first_stance: dict[int, Stance] = {}
        self.answered_now: set[int] = set()
        """Who answered in the rounds this run held (not the earlier ones)."""
        self.persona_sum_s = 0.0
        self.usage = TokenUsage()
        for round_ in sorted(earlier, key=lambda round_: round_.number):
            for index, heard in enumerate(round_.replies[: len(self.panel)]):
                if heard is not None:
                    self._hear(round_.number, index, heard)

    def _hear(self, round_number: int, index: int, heard: HeardReply) -> None:
        self.by_round.setdefault(round_number, {})[index] = heard
        self.latest[index] = heard
        self.first_stance.setdefault(index, heard.stance)

    def take(self, result: PersonaFinished) -> None:
        self.persona_sum_s += result.outcome.latency_s
        self.usage += result.outcome.usage
        if isinstance(result.outcome, PersonaReply):
            reply = result.outcome
            heard = HeardReply(self.panel[result.index], reply.text, reply.cut_off, reply.stance)
            self._hear(result.round, result.index, heard)
            self.answered_now.add(result.index)

    def heard(self, index: int) -> HeardReply | None:
        return self.latest.get(index)

    def earlier_rounds(self, round_number: int) -> list[EarlierRound]:
        """The rounds before the latest one round ``round_number`` answers."""
        return [
            EarlierRound(number, tuple(answers.get(index) for index in range(len(self.panel))))
            for number, answers in sorted(self.by_round.items())
            if number < round_number - 1
        ]

    def persona_request(self, index: int, round_number: int) -> LLMRequest:
        persona = self.panel[index]
        previous = [] if self.previous is None else previous_debate_blocks(self.previous, own=index)
        if not self.by_round:
            prompt = persona_prompt(self.question, self.previous, own=index)
        else:
            others = [index_ for index_ in range(len(self.panel)) if index_ != index]
            prompt = rebuttal_prompt(
                self.question,
                round_number,
                self.heard(index),
                [heard for other in others if (heard := self.heard(other)) is not None],
                [self.panel[other] for other in others if other not in self.latest],
                earlier=earlier_round_blocks(self.earlier_rounds(round_number), index),
                previous=previous,
            )
        return LLMRequest(
            model=persona.model or self.config.persona_model,
            system=persona_system_instruction(persona, self.language),
            prompt=prompt,
            timeout_s=self.config.persona_timeout_s,
            max_output_tokens=self.config.persona_max_output_tokens,
            thinking=self.config.persona_thinking,
            response_schema=ANSWER_SCHEMA,
            grounded=persona.grounded,
        )

    def start_round(self, number: int, llm: LLM, limiter: asyncio.Semaphore) -> _Round:
        tasks = [
            asyncio.create_task(
                _ask_persona(
                    index,
                    persona,
                    number,
                    self.persona_request(index, number),
                    llm,
                    limiter,
                    self.latest[index].stance if index in self.latest else None,
                ),
                name=f"{persona.name} (round {number})",
            )
            for index, persona in enumerate(self.panel)
        ]
        return _Round(number, tasks)

    def positions(self) -> tuple[Position, ...]:
        return tuple(
            Position(self.panel[index], reply.stance, self.first_stance[index])
            for index, reply in sorted(self.latest.items())
        )

    def _previous_for_judge(self, labels: Labels) -> list[str]:
        """The earlier debate a follow-up continues, under the judge's labels and anonymised."""
        if self.previous is None:
            return []
        names = [""] * len(self.panel)
        for position, index in enumerate(labels.order):
            names[index] = label_for(position)
        finals = tuple(
            None if heard is None else dataclasses.replace(heard, text=labels.anonymised(heard.text))
            for heard in self.previous.finals[: len(self.panel)]
        )
        verdict = None if self.previous.verdict is None else labels.anonymised(self.previous.verdict)
        anonymised = PreviousDebate(self.previous.question, finals, verdict)
        return previous_debate_blocks(anonymised, names=names)

    def verdict_requests(self, labels: Labels) -> list[LLMRequest]:
        """The anonymised verdict request for the verdict model, then for its fallback if there is one."""
        replies: list[tuple[str, HeardReply, str | None]] = []
        unheard = []
        for position, index in enumerate(labels.order):
            heard = self.heard(index)
            if heard is None:
                unheard.append(label_for(position))
                continue
            first = self.first_stance[index]
            moved = f"{first} → {heard.stance}" if first != heard.stance else None
            anonymised = dataclasses.replace(heard, text=labels.anonymised(heard.text))
            replies.append((label_for(position), anonymised, moved))
        request = LLMRequest(
            model=self.config.verdict_model,
            system=verdict_system_instruction(self.language),
            prompt=verdict_prompt(self.question, replies, unheard, self._previous_for_judge(labels)),
            timeout_s=self.config.verdict_timeout_s,
            max_output_tokens=self.config.verdict_max_output_tokens,
            thinking=self.config.verdict_thinking,
        )
        fallback = self.config.verdict_fallback_model
        if fallback is None or fallback == request.model:
            return [request]
        return [request, dataclasses.replace(request, model=fallback)]


async def run_debate(
    question: str,
    panel: Sequence[Persona],
    llm: LLM,
    config: DebateConfig,
    *,
    rounds: int = 1,
    limiter: asyncio.Semaphore | None = None,
    rng: random.Random | None = None,
    language: Language | None = None,
    earlier: Sequence[EarlierRound] = (),
    previous: PreviousDebate | None = None,
) -> AsyncGenerator[DebateEvent, None]:
    """Run one debate of ``rounds`` rounds, yielding events as they happen.

    A debate may go on from ``earlier`` rounds (another round of a finished debate): its rounds are
    numbered after them, every persona reads all of them, stances are followed from the first, and the
    judge reads each persona's latest answer whichever round it came from. A follow-up question carries
    the debate it continues (``previous``) in every persona's prompt and in the judge's.

    In each round every persona call starts at once (bounded by ``limiter``, which a caller may share);
    each :class:`PersonaFinished` is yielded the moment its call ends, in completion order, and a failing
    persona never disturbs the others. From round 2 on, each persona reads the others' latest answers
    and its own and may rebut or revise. The next round — or, after the last, the verdict — starts as
    soon as the round's last call ends, before that call's event is even handed out. The judge reads the
    latest answers anonymised in an order drawn with ``rng``; while it writes, the newest text (names
    written back in) is yielded as a :class:`VerdictChunk`. If nobody answered in the rounds it held, a
    :class:`DebateFailed` ends the debate. Everyone answers in ``language`` (None: English). Closing the
    iterator early cancels whatever is still running.
    """
    if not 1 <= rounds <= MAX_ROUNDS:
        raise ValueError(f"a debate has 1 to {MAX_ROUNDS} rounds, not {rounds}")
    clock = _Clock()
    limiter = limiter or asyncio.Semaphore(max(1, len(panel)))
    debate = _Debate(question, panel, config, language, earlier, previous)
    first = max((round_.number for round_ in earlier), default=0) + 1
    last = first + rounds - 1
    snapshots: asyncio.Queue[str | _JudgeResult] = asyncio.Queue()
    current = debate.start_round(first, llm, limiter)
    judge: asyncio.Task[None] | None = None
    labels: Labels | None = None

    def stats(verdict_s: float = 0.0, verdict_usage: TokenUsage = TokenUsage()) -> DebateStats:
        return DebateStats(
            wall_s=clock.now() - clock.start,
            persona_sum_s=debate.persona_sum_s,
            verdict_s=verdict_s,
            usage=debate.usage + verdict_usage,
            answered=len(debate.answered_now),
            panel_size=len(panel),
            rounds=current.number,
        )

    try:
        while True:
            for index, persona in enumerate(panel):
                yield PersonaStarted(index, persona, current.number)
            following: _Round | None = None
            for next_done in asyncio.as_completed(current.tasks):
                result = await next_done
                current.finished.append(result)
                debate.take(result)
                if len(current.finished) == len(current.tasks) and debate.answered_now:
                    if current.number < last:
                        following = debate.start_round(current.number + 1, llm, limiter)
                    else:
                        labels = Labels.for_order(panel, shuffled_order(len(panel), rng or random.Random()))
                        requests = debate.verdict_requests(labels)
                        judge = asyncio.create_task(_judge(requests, llm, limiter, snapshots), name="verdict")
                yield result
            if following is None:
                break
            current = following
        if judge is None or labels is None:
            reasons = sorted(
                {
                    result.outcome.reason
                    for result in current.finished
                    if isinstance(result.outcome, PersonaFailure)
                }
            )
            yield DebateFailed("no persona answered (" + "; ".join(reasons) + ")", stats())
            return
        yield VerdictStarted(labels.order, config.verdict_model)
        while True:
            item = await snapshots.get()
            while isinstance(item, str) and not snapshots.empty():
                item = snapshots.get_nowait()  # a slow consumer only needs the newest text
            if isinstance(item, str):
                yield VerdictChunk(labels.named(item, final=False))
                continue
            outcome = item.outcome
            if isinstance(outcome, PersonaReply):
                outcome = dataclasses.replace(outcome, text=labels.named(outcome.text))
            yield VerdictFinished(
                outcome, stats(item.spent_s, item.usage), debate.positions(), item.fallback_from
            )
            return
    finally:
        for task in current.tasks:
            task.cancel()
        if following is not None:
            for task in following.tasks:
                task.cancel()
        if judge is not None:
            judge.cancel()
