"""Rebuttal rounds, structured stances, the anonymised judge and its fallback, in the engine."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random

import pytest

from bot.core.debate import (
    DebateConfig,
    DebateEvent,
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
from bot.core.llm import FailureKind, LLMFailure, LLMRequest, TokenUsage
from bot.core.personas import DEFAULT_PANEL
from bot.core.stances import ANSWER_SCHEMA, Stance
from tests.bot.core.scripted_llm import ScriptedLLM, Step

CONFIG = DebateConfig(persona_model="persona-model", verdict_model="verdict-model", persona_timeout_s=5)
QUESTION = "Was the destruction of the Death Star justified?"
NAMES = [persona.name for persona in DEFAULT_PANEL]


def structured(stance: str, answer: str, confidence: float = 0.8) -> str:
    return json.dumps(
        {"stance": stance, "confidence": confidence, "key_claim": f"{stance}!", "answer": answer}
    )


def round_of(request: LLMRequest) -> int:
    return 1 if "This is round" not in request.prompt else int(request.prompt.split("This is round ")[1][0])


def persona_of(request: LLMRequest) -> str:
    return next(name for name in NAMES if f"You are {name}," in request.system)


def answers_by_round(request: LLMRequest) -> Step:
    """Each persona answers ``{name} r{round}``; the Rebel Pilot moves from mixed to against in round 2."""
    name, number = persona_of(request), round_of(request)
    stance = "against" if name == "Rebel Pilot" and number > 1 else "mixed"
    return Step(text=structured(stance, f"{name} r{number}"), delay=0.01 * NAMES.index(name))


async def collect(
    llm: ScriptedLLM, rounds: int = 1, seed: int = 0, config: DebateConfig = CONFIG
) -> list[DebateEvent]:
    async with asyncio.timeout(10):
        debate = run_debate(QUESTION, DEFAULT_PANEL, llm, config, rounds=rounds, rng=random.Random(seed))
        return [event async for event in debate]


def persona_requests(llm: ScriptedLLM) -> list[LLMRequest]:
    return [call.request for call in llm.calls if call.request.model == "persona-model"]


async def test_every_persona_request_asks_for_the_structured_answer() -> None:
    llm = ScriptedLLM()
    await collect(llm)
    assert [request.response_schema for request in persona_requests(llm)] == [ANSWER_SCHEMA] * 4
    assert all(request.response_schema is None for request in llm.verdict_requests)


async def test_structured_replies_give_stances_and_a_malformed_one_keeps_its_text() -> None:
    llm = ScriptedLLM(
        {
            "Rebel Pilot": Step(text=structured("for", "Alderaan demanded it.", 0.9)),
            "Imperial Officer": Step(
                text='{"stance": "against", "confidence": 0.6, "answer": "Murder of a mil'
            ),
            "Neutral Citizen": Step(text="Plain prose, no JSON."),
        }
    )
    events = await collect(llm)
    outcomes = {event.persona.name: event.outcome for event in events if isinstance(event, PersonaFinished)}
    rebel, imperial, citizen = (
        outcomes["Rebel Pilot"],
        outcomes["Imperial Officer"],
        outcomes["Neutral Citizen"],
    )
    assert isinstance(rebel, PersonaReply)
    assert (rebel.text, rebel.stance, rebel.confidence, rebel.key_claim) == (
        "Alderaan demanded it.",
        Stance.FOR,
        0.9,
        "for!",
    )
    assert isinstance(imperial, PersonaReply)
    assert (imperial.text, imperial.stance) == ("Murder of a mil", Stance.UNKNOWN)
    assert isinstance(citizen, PersonaReply)
    assert (citizen.text, citizen.stance) == ("Plain prose, no JSON.", Stance.UNKNOWN)
    verdict = events[-1]
    assert isinstance(verdict, VerdictFinished)
    assert {position.persona.name: position.stance for position in verdict.positions} == {
        "Rebel Pilot": Stance.FOR,
        "Imperial Officer": Stance.UNKNOWN,
        "Neutral Citizen": Stance.UNKNOWN,
        "Droid Analyst": Stance.UNKNOWN,
    }


async def test_a_reply_with_no_recoverable_answer_is_a_failure_not_raw_json() -> None:
    llm = ScriptedLLM({"Droid Analyst": Step(text='{"stance": "for", "confid')})
    events = await collect(llm)
    droid = next(
        e.outcome for e in events if isinstance(e, PersonaFinished) and e.persona.name == "Droid Analyst"
    )
    assert isinstance(droid, PersonaFailure)
    assert droid.reason == "its reply was unreadable"
    assert droid.usage == TokenUsage(10, 20)


async def test_round_two_shows_each_persona_the_others_answers_and_its_own() -> None:
    llm = ScriptedLLM()
    llm.responder = answers_by_round
    events = await collect(llm, rounds=2)
    requests = persona_requests(llm)
    assert [round_of(request) for request in requests] == [1] * 4 + [2] * 4
    for request in requests[4:]:
        name = persona_of(request)
        assert f"Your latest answer (stance: {'mixed'}):\n<reply>\n{name} r1\n</reply>" in request.prompt
        for other in NAMES:
            if other != name:
                assert f"<reply>\n{other} r1\n</reply>" in request.prompt
        assert request.prompt.count("</reply>") == 4
    finished = [event for event in events if isinstance(event, PersonaFinished)]
    assert [event.round for event in finished] == [1] * 4 + [2] * 4
    rebel_round_two = next(e for e in finished if e.round == 2 and e.persona.name == "Rebel Pilot")
    assert rebel_round_two.earlier is Stance.MIXED
    assert isinstance(rebel_round_two.outcome, PersonaReply)
    assert rebel_round_two.outcome.stance is Stance.AGAINST
    started = [event for event in events if isinstance(event, PersonaStarted)]
    assert [event.round for event in started] == [1] * 4 + [2] * 4


async def test_a_round_starts_only_when_the_last_one_ended_and_before_its_event_is_handed_out() -> None:
    llm = ScriptedLLM()
    llm.responder = answers_by_round
    await collect(llm, rounds=3)
    by_round: dict[int, list[float]] = {}
    ends: dict[int, list[float]] = {}
    for call in llm.calls:
        if call.request.model == "persona-model":
            number = round_of(call.request)
            by_round.setdefault(number, []).append(call.started)
            assert call.ended is not None
            ends.setdefault(number, []).append(call.ended)
    assert sorted(by_round) == [1, 2, 3]
    for number in (2, 3):
        assert min(by_round[number]) >= max(ends[number - 1])


async def test_the_verdict_reads_the_final_round_anonymised_and_names_who_changed() -> None:
    llm = ScriptedLLM()
    llm.responder = answers_by_round
    events = await collect(llm, rounds=2)
    (verdict_request,) = llm.verdict_requests
    for name in NAMES:
        assert f"{name} r2" not in verdict_request.prompt  # names in answers are anonymised too
    for persona in DEFAULT_PANEL:
        assert persona.name not in verdict_request.prompt
        assert persona.name not in verdict_request.system
    assert "r1\n" not in verdict_request.prompt
    order = next(event.order for event in events if isinstance(event, VerdictStarted))
    rebel_label = label_for(order.index(0))
    assert (
        f"{rebel_label} (stance: against; stance over the rounds: mixed → against):" in verdict_request.prompt
    )
    verdict = events[-1]
    assert isinstance(verdict, VerdictFinished)
    assert [position.persona.name for position in verdict.positions if position.changed] == ["Rebel Pilot"]
    assert verdict.stats.rounds == 2


async def test_the_judge_reads_the_answers_in_an_order_that_differs_across_seeds() -> None:
    orders = set()
    prompts = set()
    for seed in range(6):
        llm = ScriptedLLM(
            {name: Step(text=structured("mixed", f"argument {i}")) for i, name in enumerate(NAMES)}
        )
        events = await collect(llm, seed=seed)
        orders.add(next(event.order for event in events if isinstance(event, VerdictStarted)))
        (request,) = llm.verdict_requests
        prompts.add(request.prompt)
        positions = [request.prompt.index(f"Persona {letter} (") for letter in "ABCD"]
        assert positions == sorted(positions)
    assert len(orders) > 1
    assert len(prompts) == len(orders)


async def test_labels_in_the_streamed_and_final_verdict_become_names() -> None:
    text = "## The crux\nPersona A against Persona B.\n## Bottom line\nPersona C wins."
    chunks = ("## The crux\nPers", "ona A against Persona ", "B.\n## Bottom line\nPersona C wins.")
    llm = ScriptedLLM(verdict=Step(text=text, chunks=chunks))
    events = await collect(llm, seed=3)
    order = next(event.order for event in events if isinstance(event, VerdictStarted))
    names = [DEFAULT_PANEL[index].label for index in order]
    expected = f"## The crux\n{names[0]} against {names[1]}.\n## Bottom line\n{names[2]} wins."
    verdict = events[-1]
    assert isinstance(verdict, VerdictFinished)
    assert isinstance(verdict.outcome, PersonaReply)
    assert verdict.outcome.text == expected
    for chunk in (event.text for event in events if isinstance(event, VerdictChunk)):
        assert "Pers" not in chunk
        assert expected.startswith(chunk)


async def test_a_failing_verdict_model_hands_over_to_the_fallback() -> None:
    config = dataclasses.replace(CONFIG, verdict_fallback_model="fallback-model")
    failure = LLMFailure("Gemini is overloaded", kind=FailureKind.UNAVAILABLE, usage=TokenUsage(5, 0))
    llm = ScriptedLLM(
        verdicts_by_model={
            "verdict-model": Step(error=failure, delay=0.05),
            "fallback-model": Step(text="Persona A is right.", chunks=("Persona A ", "is right.")),
        }
    )
    events = await collect(llm, config=config)
    verdict = events[-1]
    assert isinstance(verdict, VerdictFinished)
    assert isinstance(verdict.outcome, PersonaReply)
    assert verdict.outcome.model == "fallback-model"
    assert verdict.fallback_from is not None
    assert (verdict.fallback_from.reason, verdict.fallback_from.model) == (
        "Gemini is overloaded",
        "verdict-model",
    )
    assert verdict.stats.verdict_s >= 0.05
    streamed = [call.request.model for call in llm.calls if call.request.response_schema is None]
    assert streamed == ["verdict-model", "fallback-model"]
    assert verdict.stats.usage == TokenUsage(4 * 10 + 10 + 5, 4 * 20 + 20)


async def test_without_a_fallback_a_failing_verdict_is_reported() -> None:
    failure = LLMFailure("Gemini is overloaded", kind=FailureKind.UNAVAILABLE)
    llm = ScriptedLLM(verdict=Step(error=failure))
    events = await collect(llm)
    verdict = events[-1]
    assert isinstance(verdict, VerdictFinished)
    assert isinstance(verdict.outcome, PersonaFailure)
    assert verdict.fallback_from is None
    assert len(llm.verdict_requests) == 1


async def test_when_the_fallback_fails_too_the_verdict_fails_naming_the_first_failure() -> None:
    config = dataclasses.replace(CONFIG, verdict_fallback_model="fallback-model")
    llm = ScriptedLLM(
        verdicts_by_model={
            "verdict-model": Step(error=LLMFailure("Gemini is overloaded", kind=FailureKind.UNAVAILABLE)),
            "fallback-model": Step(error=LLMFailure("blocked by safety filters", kind=FailureKind.BLOCKED)),
        }
    )
    verdict = (await collect(llm, config=config))[-1]
    assert isinstance(verdict, VerdictFinished)
    assert isinstance(verdict.outcome, PersonaFailure)
    assert verdict.outcome.reason == "blocked by safety filters"
    assert verdict.fallback_from is not None


@pytest.mark.parametrize("rounds", [0, 4])
async def test_rounds_outside_one_to_three_are_refused(rounds: int) -> None:
    with pytest.raises(ValueError, match="1 to 3 rounds"):
        await collect(ScriptedLLM(), rounds=rounds)


async def test_closing_mid_round_two_cancels_its_calls_and_starts_nothing_more() -> None:
    gate = asyncio.Event()
    llm = ScriptedLLM()

    def slow_second_round(request: LLMRequest) -> Step | None:
        return Step(text=structured("for", "x"), release=gate) if round_of(request) == 2 else None

    llm.responder = slow_second_round
    debate = run_debate(QUESTION, DEFAULT_PANEL, llm, CONFIG, rounds=3)
    async for event in debate:
        if isinstance(event, PersonaStarted) and event.round == 2:
            break
    await asyncio.sleep(0.05)
    await debate.aclose()
    await asyncio.sleep(0.05)
    round_two = [call for call in llm.calls if round_of(call.request) == 2]
    assert len(round_two) == 4
    assert all(call.cancelled for call in round_two)
    assert not any(round_of(call.request) == 3 for call in llm.calls)
    assert llm.verdict_requests == []
