"""Continuations in the pure core: the engine going on from earlier rounds or following up an earlier
debate, what a chain of records gives it, and how a chain reads in a transcript and the history."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
from datetime import UTC, datetime

from bot.core.continuations import (
    ContinuationKind,
    context_of,
    earlier_rounds,
    finals,
    follow_up_context,
    rounds_so_far,
    segment,
)
from bot.core.debate import (
    DebateConfig,
    DebateEvent,
    DebateFailed,
    PersonaFinished,
    PersonaStarted,
    VerdictFinished,
    run_debate,
)
from bot.core.history import history_line
from bot.core.llm import FailureKind, LLMFailure, LLMRequest
from bot.core.personas import DEFAULT_PANEL
from bot.core.prompts import EarlierRound, HeardReply, PreviousDebate
from bot.core.records import DebateStatus, DebateSummary, StoredDebate, StoredReply
from bot.core.stances import Stance
from bot.core.transcript import status_message_link, transcript_markdown
from tests.bot.core.scripted_llm import ScriptedLLM, Step

CONFIG = DebateConfig(persona_model="persona-model", verdict_model="verdict-model", persona_timeout_s=5)
QUESTION = "Should the Rebellion have negotiated?"
NAMES = [persona.name for persona in DEFAULT_PANEL]
STARTED = datetime(2026, 5, 9, 14, 30, 5, tzinfo=UTC)


def said(index: int, number: int) -> str:
    return f"voice {index} in round {number}"


def earlier(*numbers: int, mover: Stance = Stance.FOR) -> tuple[EarlierRound, ...]:
    """Rounds ``numbers`` where every persona answered ``said(index, round)``, all ``for`` except the
    Neutral Citizen, ``mover`` in round 1."""
    return tuple(
        EarlierRound(
            number,
            tuple(
                HeardReply(
                    persona, said(index, number), stance=mover if index == 2 and number == 1 else Stance.FOR
                )
                for index, persona in enumerate(DEFAULT_PANEL)
            ),
        )
        for number in numbers
    )


def persona_of(request: LLMRequest) -> str:
    return next(name for name in NAMES if f"You are {name}," in request.system)


def persona_requests(llm: ScriptedLLM) -> list[LLMRequest]:
    return [call.request for call in llm.calls if call.request.model == "persona-model"]


def verdict_requests(llm: ScriptedLLM) -> list[LLMRequest]:
    return [call.request for call in llm.calls if call.request.model == "verdict-model"]


def against(request: LLMRequest) -> Step:
    name = persona_of(request)
    stance = "against" if name == "Neutral Citizen" else "for"
    body = {"stance": stance, "confidence": 0.5, "key_claim": "k", "answer": f"{name} now"}
    return Step(text=json.dumps(body))


async def collect(llm: ScriptedLLM, **options: object) -> list[DebateEvent]:
    async with asyncio.timeout(10):
        debate = run_debate(QUESTION, DEFAULT_PANEL, llm, CONFIG, rng=random.Random(0), **options)  # type: ignore[arg-type]
        return [event async for event in debate]


async def test_another_round_is_numbered_after_the_earlier_ones_and_every_persona_reads_all_of_them() -> None:
    llm = ScriptedLLM()
    llm.responder = against
    events = await collect(llm, earlier=earlier(1, 2, mover=Stance.MIXED))
    assert {event.round for event in events if isinstance(event, PersonaStarted)} == {3}
    requests = persona_requests(llm)
    assert len(requests) == 4
    for request in requests:
        own = NAMES.index(persona_of(request))
        assert "This is round 3." in request.prompt
        assert QUESTION in request.prompt
        assert request.prompt.startswith("The debate question:")
        for index in range(4):
            for number in (1, 2):
                assert said(index, number) in request.prompt
        # Round 1 comes first, its own answer marked as such; round 2 is the latest, fenced as before.
        assert request.prompt.index("Answers in round 1:") < request.prompt.index("Your latest answer")
        assert (
            f"Your answer (stance: {'mixed' if own == 2 else 'for'}):\n<reply>\n{said(own, 1)}\n</reply>"
            in (request.prompt)
        )
        assert f"Your latest answer (stance: for):\n<reply>\n{said(own, 2)}\n</reply>" in request.prompt
        assert request.prompt.index(said(own, 1)) < request.prompt.index(said(own, 2))
    finished = [event for event in events if isinstance(event, PersonaFinished)]
    assert {event.round for event in finished} == {3}
    citizen = next(event for event in finished if event.persona.name == "Neutral Citizen")
    assert citizen.earlier is Stance.FOR, "the change is shown against its latest stance"
    (verdict,) = [event for event in events if isinstance(event, VerdictFinished)]
    assert verdict.stats.rounds == 3
    assert verdict.stats.answered == 4
    moved = {position.persona.name: (position.first, position.stance) for position in verdict.positions}
    assert moved["Neutral Citizen"] == (Stance.MIXED, Stance.AGAINST), "followed from round 1"
    (judge,) = verdict_requests(llm)
    assert "stance over the rounds: mixed → against" in judge.prompt
    assert said(0, 1) not in judge.prompt, "the judge reads the latest answers only"


async def test_a_round_nobody_answers_fails_even_when_earlier_rounds_had_answers() -> None:
    llm = ScriptedLLM()
    llm.responder = lambda request: Step(error=LLMFailure("down", kind=FailureKind.NETWORK))
    events = await collect(llm, earlier=earlier(1))
    assert isinstance(events[-1], DebateFailed)
    assert events[-1].stats.answered == 0
    assert verdict_requests(llm) == []


async def test_a_follow_up_carries_the_earlier_debate_for_each_persona_and_anonymised_for_the_judge() -> None:
    previous = PreviousDebate(
        "Was the Death Star a legitimate target?",
        tuple(
            HeardReply(persona, said(index, 2), stance=Stance.FOR)
            for index, persona in enumerate(DEFAULT_PANEL)
        ),
        "## Bottom line\nThe Rebel Pilot was right; the Imperial Officer was not.",
    )
    llm = ScriptedLLM()
    llm.responder = against
    events = await collect(llm, previous=previous)
    assert {event.round for event in events if isinstance(event, PersonaStarted)} == {1}
    for request in persona_requests(llm):
        own = NAMES.index(persona_of(request))
        prompt = request.prompt
        assert "follows up an earlier debate" in prompt
        assert "<question>\nWas the Death Star a legitimate target?\n</question>" in prompt
        assert f"Your final answer there (stance: for):\n<reply>\n{said(own, 2)}\n</reply>" in prompt
        for index in range(4):
            assert said(index, 2) in prompt
        assert "<verdict>\n## Bottom line\nThe Rebel Pilot was right" in prompt
        assert prompt.index("The earlier debate's verdict") < prompt.index(
            f"<question>\n{QUESTION}\n</question>"
        )
    (judge,) = verdict_requests(llm)
    assert "Was the Death Star a legitimate target?" in judge.prompt
    assert "The earlier debate's verdict" in judge.prompt
    assert not any(name in judge.prompt for name in NAMES), "the earlier verdict is anonymised too"
    assert (
        "Persona A was right" in judge.prompt
        or "Persona B was right" in judge.prompt
        or ("was right" in judge.prompt)
    )
    assert judge.prompt.count("</reply>") == 8, "four earlier final answers, four new ones"


def summary(id_: int, **changes: object) -> DebateSummary:
    base = DebateSummary(
        id=id_,
        guild_id=1,
        channel_id=2,
        user_id=3,
        question=QUESTION,
        status=DebateStatus.DONE,
        outcome="✅ done in 3.1 s",
        rounds=2,
        tokens=1234,
        started_at=STARTED,
        status_message_id=100 + id_,
        posts_channel_id=101,
        verdict_model="verdict-model",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def stored(id_: int, replies: list[StoredReply], verdict: str, **changes: object) -> StoredDebate:
    return StoredDebate(
        summary=summary(id_, **changes),
        panel=DEFAULT_PANEL,
        verdict=verdict,
        wall_s=1.0,
        persona_sum_s=2.0,
        verdict_s=0.5,
        judge_order=(0, 1, 2, 3),
        finished_at=STARTED,
        replies=tuple(replies),
    )


def replies(number: int, tag: str = "") -> list[StoredReply]:
    return [
        StoredReply(index, name, f"{tag}{said(index, number)}", None, number, Stance.FOR)
        for index, name in enumerate(NAMES)
        if not (index == 3 and number == 2)  # the Droid Analyst missed round 2
    ]


def chain() -> list[StoredDebate]:
    """#1 asked with two rounds, #2 another round of it, #3 a follow-up of #2, #4 another round of #3."""
    return [
        stored(1, replies(1) + replies(2), "Verdict one."),
        stored(2, replies(3), "Verdict two.", rounds=3, continues_id=1, kind=ContinuationKind.ROUND),
        stored(
            3,
            replies(1, "f:"),
            "Verdict three.",
            rounds=1,
            question="And then?",
            continues_id=2,
            kind=ContinuationKind.FOLLOW_UP,
        ),
        stored(4, replies(2, "f:"), "Verdict four.", continues_id=3, kind=ContinuationKind.ROUND),
    ]


def test_a_chain_gives_another_round_its_segment_and_a_follow_up_its_context() -> None:
    debates = chain()
    assert [debate.summary.id for debate in segment(debates[:2])] == [1, 2]
    assert [debate.summary.id for debate in segment(debates)] == [3, 4]
    rounds = earlier_rounds(debates[:2])
    assert [round_.number for round_ in rounds] == [1, 2, 3]
    assert rounds[1].replies[3] is None
    assert rounds_so_far(debates[:2]) == 3
    final = finals(debates[:2])
    assert [heard.text if heard else None for heard in final] == [
        said(0, 3),
        said(1, 3),
        said(2, 3),
        said(3, 3),
    ]
    context = follow_up_context(debates[:2])
    assert context.question == QUESTION
    assert context.verdict == "Verdict two."
    assert context_of(debates[:2]) is None
    # Another round of the follow-up keeps the follow-up's context: the debate it followed up.
    assert context_of(debates) == context
    assert [round_.number for round_ in earlier_rounds(debates)] == [1, 2]
    assert earlier_rounds(debates)[0].replies[0] == HeardReply(
        DEFAULT_PANEL[0], f"f:{said(0, 1)}", stance=Stance.FOR
    )


def test_a_chain_transcript_holds_every_round_verdict_and_follow_up_question_root_first() -> None:
    debates = chain()
    document = transcript_markdown(debates[-1], earlier=debates[:-1], askers={3: "leia"})
    titles = [line for line in document.splitlines() if line.startswith("# ")]
    assert titles == [
        "# Debate #1",
        "# Debate #2 · another round of #1",
        "# Debate #3 · a follow-up question to #2",
        "# Debate #4 · another round of #3",
    ]
    rounds = [line for line in document.splitlines() if line.startswith("## Round")]
    assert rounds == [
        "## Round 1 of 2",
        "## Round 2 of 2",
        "## Round 3 of 3",
        "## Round 1 of 1",
        "## Round 2 of 2",
    ]
    for verdict in ("Verdict one.", "Verdict two.", "Verdict three.", "Verdict four."):
        assert verdict in document
    assert "> And then?" in document
    assert document.count("## Panel") == 1
    assert document.count("`leia` (3)") == 4
    for number in (1, 2, 3):
        assert said(0, number) in document


def test_a_continuation_links_to_its_own_status_line_and_its_history_line_names_its_parent() -> None:
    root, continuation, follow_up = (debate.summary for debate in chain()[:3])
    assert status_message_link(root) == "https://discord.com/channels/1/2/101"
    assert status_message_link(continuation) == "https://discord.com/channels/1/101/102"
    assert "🔁 continues #1 (another round)" in history_line(continuation)
    assert "💬 continues #2 (follow-up)" in history_line(follow_up)
    assert "continues" not in history_line(root)
