"""The debate engine: concurrency, completion order, failure isolation, the verdict and its figures."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Sequence

import pytest

from bot.core.debate import (
    DebateConfig,
    DebateEvent,
    DebateFailed,
    PersonaFailure,
    PersonaFinished,
    PersonaReply,
    PersonaStarted,
    VerdictChunk,
    VerdictFinished,
    VerdictStarted,
    run_debate,
)
from bot.core.judging import label_for
from bot.core.llm import FailureKind, FinishReason, LLMFailure, TokenUsage
from bot.core.personas import DEFAULT_PANEL, Persona
from tests.bot.core.scripted_llm import ScriptedLLM, Step

CONFIG = DebateConfig(persona_model="persona-model", verdict_model="verdict-model", persona_timeout_s=5)
QUESTION = "Was the destruction of the Death Star justified?"
NAMES = [persona.name for persona in DEFAULT_PANEL]


async def collect(
    llm: ScriptedLLM, panel: Sequence[Persona] = DEFAULT_PANEL, config: DebateConfig = CONFIG
) -> list[DebateEvent]:
    async with asyncio.timeout(10):
        return [event async for event in run_debate(QUESTION, panel, llm, config)]


def finished(events: list[DebateEvent]) -> list[PersonaFinished]:
    return [event for event in events if isinstance(event, PersonaFinished)]


def verdict_order(events: list[DebateEvent]) -> tuple[int, ...]:
    """The panel indexes in the order the judge read them."""
    return next(event.order for event in events if isinstance(event, VerdictStarted))


async def test_every_persona_call_is_in_flight_at_once() -> None:
    gate = asyncio.Event()
    llm = ScriptedLLM({name: Step(release=gate) for name in NAMES})
    llm.expected_parallel = len(NAMES)

    async def open_gate_when_all_started() -> None:
        # A sequential engine would never have all four calls waiting at once: this would time out.
        await asyncio.wait_for(llm.all_started.wait(), timeout=2)
        gate.set()

    opener = asyncio.create_task(open_gate_when_all_started())
    events = await collect(llm)
    await opener
    assert llm.max_in_flight == len(NAMES)
    assert [event.index for event in events if isinstance(event, PersonaStarted)] == [0, 1, 2, 3]
    assert len(finished(events)) == 4


async def test_results_arrive_in_completion_order_as_they_complete() -> None:
    gates = {name: asyncio.Event() for name in NAMES}
    llm = ScriptedLLM({name: Step(text=f"{name} speaks", release=gates[name]) for name in NAMES})
    debate = run_debate(QUESTION, DEFAULT_PANEL, llm, CONFIG)
    for _ in NAMES:
        assert isinstance(await anext(debate), PersonaStarted)
    for name in ("Neutral Citizen", "Rebel Pilot", "Droid Analyst", "Imperial Officer"):
        gates[name].set()
        event = await asyncio.wait_for(anext(debate), timeout=2)
        assert isinstance(event, PersonaFinished)
        assert event.persona.name == name
        assert isinstance(event.outcome, PersonaReply)
        assert event.outcome.text == f"{name} speaks"
    rest = [event async for event in debate]
    assert isinstance(rest[-1], VerdictFinished)


async def test_a_failing_persona_does_not_disturb_the_others() -> None:
    llm = ScriptedLLM(
        {
            "Imperial Officer": Step(error=LLMFailure("Gemini is overloaded", kind=FailureKind.UNAVAILABLE)),
            "Droid Analyst": Step(error=RuntimeError("boom")),
            "Rebel Pilot": Step(text="For the Alliance!", delay=0.05),
        }
    )
    events = await collect(llm)
    outcomes = {event.persona.name: event.outcome for event in finished(events)}
    imperial, droid = outcomes["Imperial Officer"], outcomes["Droid Analyst"]
    assert isinstance(imperial, PersonaFailure)
    assert imperial.reason == "Gemini is overloaded"
    assert isinstance(droid, PersonaFailure)
    assert droid.reason == "unexpected error"
    assert isinstance(outcomes["Rebel Pilot"], PersonaReply)
    assert isinstance(outcomes["Neutral Citizen"], PersonaReply)

    (verdict_request,) = llm.verdict_requests
    assert "For the Alliance!" in verdict_request.prompt
    assert verdict_request.prompt.count("</reply>") == 2
    verdict = events[-1]
    assert isinstance(verdict, VerdictFinished)
    unheard = sorted(label_for(verdict_order(events).index(index)) for index in (1, 3))
    assert f"Not heard (no answer): {unheard[0]}, {unheard[1]}." in verdict_request.prompt
    assert isinstance(verdict, VerdictFinished)
    assert verdict.stats.answered == 2
    assert verdict.stats.panel_size == 4


async def test_a_persona_past_its_timeout_fails_with_the_duration() -> None:
    llm = ScriptedLLM({"Droid Analyst": Step(delay=30)})
    events = await collect(llm, config=dataclasses.replace(CONFIG, persona_timeout_s=0.1))
    droid = next(event.outcome for event in finished(events) if event.persona.name == "Droid Analyst")
    assert isinstance(droid, PersonaFailure)
    assert droid.reason == "timed out after 0.1 s"
    assert droid.kind is FailureKind.TIMEOUT
    assert next(call for call in llm.calls if "Droid Analyst" in call.request.system).cancelled
    assert isinstance(events[-1], VerdictFinished)


async def test_when_every_persona_fails_there_is_no_verdict_call() -> None:
    failure = LLMFailure("quota exhausted for today", kind=FailureKind.QUOTA_EXHAUSTED)
    llm = ScriptedLLM({name: Step(error=failure) for name in NAMES})
    events = await collect(llm)
    assert llm.verdict_requests == []
    last = events[-1]
    assert isinstance(last, DebateFailed)
    assert last.reason == "no persona answered (quota exhausted for today)"
    assert last.stats.answered == 0
    assert not any(isinstance(event, VerdictFinished | VerdictChunk) for event in events)


async def test_a_cut_off_reply_is_kept_and_marked_for_the_verdict() -> None:
    llm = ScriptedLLM({"Rebel Pilot": Step(text="We had no choice but", finish=FinishReason.MAX_TOKENS)})
    events = await collect(llm)
    rebel = next(event.outcome for event in finished(events) if event.persona.name == "Rebel Pilot")
    assert isinstance(rebel, PersonaReply)
    assert rebel.cut_off
    (verdict_request,) = llm.verdict_requests
    label = label_for(verdict_order(events).index(0))
    assert (
        f"{label} (stance: unknown; cut off at the length limit):\n<reply>\nWe had no choice but\n</reply>"
        in (verdict_request.prompt)
    )


async def test_the_verdict_streams_and_reports_the_debate_figures() -> None:
    llm = ScriptedLLM(
        {name: Step(usage=TokenUsage(100, 50)) for name in NAMES},
        verdict=Step(
            text="Justified, narrowly.", chunks=("Justified", ", narrowly."), usage=TokenUsage(400, 80)
        ),
    )
    events = await collect(llm)
    chunks = [event.text for event in events if isinstance(event, VerdictChunk)]
    assert chunks == ["Justified", "Justified, narrowly."]
    verdict = events[-1]
    assert isinstance(verdict, VerdictFinished)
    assert isinstance(verdict.outcome, PersonaReply)
    assert verdict.outcome.text == "Justified, narrowly."
    assert verdict.outcome.model == "verdict-model"
    stats = verdict.stats
    assert stats.usage == TokenUsage(4 * 100 + 400, 4 * 50 + 80)
    latencies = [event.outcome.latency_s for event in finished(events)]
    assert stats.persona_sum_s == pytest.approx(sum(latencies))
    assert stats.speedup == pytest.approx((stats.persona_sum_s + stats.verdict_s) / stats.wall_s)
    assert stats.wall_s >= stats.verdict_s


async def test_a_failed_verdict_is_reported_with_the_figures() -> None:
    llm = ScriptedLLM(verdict=Step(error=LLMFailure("blocked by safety filter", kind=FailureKind.BLOCKED)))
    events = await collect(llm)
    verdict = events[-1]
    assert isinstance(verdict, VerdictFinished)
    assert isinstance(verdict.outcome, PersonaFailure)
    assert verdict.outcome.reason == "blocked by safety filter"
    assert verdict.stats.answered == 4


async def test_a_hanging_verdict_times_out() -> None:
    llm = ScriptedLLM(verdict=Step(delay=30))
    events = await collect(llm, config=dataclasses.replace(CONFIG, verdict_timeout_s=0.1))
    verdict = events[-1]
    assert isinstance(verdict, VerdictFinished)
    assert isinstance(verdict.outcome, PersonaFailure)
    assert verdict.outcome.reason == "timed out after 0.1 s"


async def test_the_verdict_timeout_does_not_cancel_the_consumer_between_events() -> None:
    llm = ScriptedLLM(verdict=Step(text="done", chunks=("do", "ne")))
    config = dataclasses.replace(CONFIG, verdict_timeout_s=0.2)
    seen: list[DebateEvent] = []
    async for event in run_debate(QUESTION, DEFAULT_PANEL, llm, config):
        seen.append(event)
        if isinstance(event, VerdictChunk):
            await asyncio.sleep(0.15)  # slow consumer: two chunks outlast the verdict's own budget
    verdict = seen[-1]
    assert isinstance(verdict, VerdictFinished)
    assert isinstance(verdict.outcome, PersonaReply)


async def test_a_slow_consumer_gets_only_the_newest_verdict_text() -> None:
    llm = ScriptedLLM(verdict=Step(text="abcd", chunks=("a", "b", "c", "d"), chunk_delay=0.02))
    seen: list[DebateEvent] = []
    async for event in run_debate(QUESTION, DEFAULT_PANEL, llm, CONFIG):
        seen.append(event)
        if isinstance(event, VerdictChunk):
            await asyncio.sleep(0.05)
    chunks = [event.text for event in seen if isinstance(event, VerdictChunk)]
    assert chunks[0] == "a"
    assert len(chunks) < 4
    assert chunks == sorted(chunks, key=len)
    assert isinstance(seen[-1], VerdictFinished)


async def test_the_verdict_starts_before_the_last_persona_is_handed_out() -> None:
    llm = ScriptedLLM()
    debate = run_debate(QUESTION, DEFAULT_PANEL, llm, CONFIG)
    finished_seen = 0
    async for event in debate:
        if isinstance(event, PersonaFinished):
            finished_seen += 1
            if finished_seen == len(DEFAULT_PANEL):
                await asyncio.sleep(0.05)  # the consumer posts the last persona; the verdict is under way
                assert len(llm.verdict_requests) == 1
                assert llm.verdict_requests[0].prompt.count("<reply>") == 4


async def test_the_shared_limiter_bounds_calls_in_flight() -> None:
    llm = ScriptedLLM({name: Step(delay=0.02) for name in NAMES})
    limiter = asyncio.Semaphore(2)
    events = [event async for event in run_debate(QUESTION, DEFAULT_PANEL, llm, CONFIG, limiter=limiter)]
    assert llm.max_in_flight == 2
    assert len(finished(events)) == 4


async def test_closing_the_debate_early_cancels_calls_still_running() -> None:
    llm = ScriptedLLM({name: Step(delay=30) for name in NAMES[1:]})
    debate = run_debate(QUESTION, DEFAULT_PANEL, llm, CONFIG)
    async with contextlib.aclosing(debate):
        async for event in debate:
            if isinstance(event, PersonaFinished):
                break
    await asyncio.sleep(0)
    assert [call.cancelled for call in llm.calls] == [False, True, True, True]


async def test_models_come_from_the_config_unless_a_persona_overrides_it() -> None:
    panel = [
        *DEFAULT_PANEL[:3],
        Persona("Judge", "⚖️", "You weigh evidence like a judge.", 0x123456, "judge-model"),
    ]
    llm = ScriptedLLM()
    await collect(llm, panel)
    models = {call.request.system.split(",")[0]: call.request.model for call in llm.calls}
    assert models["You are Judge"] == "judge-model"
    assert models["You are Rebel Pilot"] == "persona-model"
    assert llm.verdict_requests[0].max_output_tokens == CONFIG.verdict_max_output_tokens
    assert all(call.request.timeout_s == CONFIG.persona_timeout_s for call in llm.calls[:4])
