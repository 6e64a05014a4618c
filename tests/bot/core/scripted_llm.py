"""A scripted, in-memory LLM for unit tests of the core."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field

from bot.core.llm import Completion, FinishReason, LLMRequest, TokenUsage


@dataclass
class Step:
    """What one call does: wait for ``release`` (if given) and ``delay``, then answer or raise."""

    text: str = "an answer"
    delay: float = 0.0
    error: BaseException | None = None
    finish: FinishReason = FinishReason.STOP
    usage: TokenUsage = field(default_factory=lambda: TokenUsage(10, 20))
    release: asyncio.Event | None = None
    chunks: tuple[str, ...] = ()
    chunk_delay: float = 0.01


@dataclass
class CallRecord:
    request: LLMRequest
    started: float
    ended: float | None = None
    cancelled: bool = False


class ScriptedLLM:
    """Answers by persona: the first scripted key found in the system instruction picks the step."""

    def __init__(
        self,
        steps: dict[str, Step] | None = None,
        verdict: Step | None = None,
        verdicts_by_model: dict[str, Step] | None = None,
    ) -> None:
        self.steps = steps or {}
        self.verdict = verdict or Step(text="the verdict", chunks=("the ", "verdict"))
        self.verdicts_by_model = verdicts_by_model or {}
        self.responder: Callable[[LLMRequest], Step | None] | None = None
        """Consulted first for persona calls: a step for the request, or None for the scripted one."""
        self.calls: list[CallRecord] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.all_started = asyncio.Event()
        self.expected_parallel = 0

    def _step(self, request: LLMRequest) -> Step:
        if self.responder is not None and (step := self.responder(request)) is not None:
            return step
        for key, step in self.steps.items():
            if key in request.system:
                return step
        return Step(text=f"default reply from {request.model}")

    async def _run(self, step: Step, request: LLMRequest) -> CallRecord:
        loop = asyncio.get_running_loop()
        record = CallRecord(request, loop.time())
        self.calls.append(record)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.expected_parallel and len(self.calls) >= self.expected_parallel:
            self.all_started.set()
        try:
            if step.release is not None:
                await step.release.wait()
            await asyncio.sleep(step.delay)
            if step.error is not None:
                raise step.error
        except asyncio.CancelledError:
            record.cancelled = True
            raise
        finally:
            self.in_flight -= 1
            record.ended = loop.time()
        return record

    async def generate(self, request: LLMRequest) -> Completion:
        step = self._step(request)
        await self._run(step, request)
        return Completion(step.text, request.model, step.usage, step.finish)

    async def stream(self, request: LLMRequest) -> AsyncGenerator[Completion, None]:
        step = self.verdicts_by_model.get(request.model, self.verdict)
        await self._run(step, request)
        text = ""
        for chunk in step.chunks:
            text += chunk
            yield Completion(text, request.model, finish=None)
            await asyncio.sleep(step.chunk_delay)
        yield Completion(step.text, request.model, step.usage, step.finish)

    @property
    def verdict_requests(self) -> list[LLMRequest]:
        return [call.request for call in self.calls if call.request.model == "verdict-model"]
