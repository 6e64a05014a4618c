"""Reading debates back for the history and transcripts, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.debate import DebateStats, PersonaFailure, PersonaReply
from bot.core.llm import FailureKind, TokenUsage
from bot.core.personas import DEFAULT_PANEL
from bot.core.records import DebateStatus, Judging, StoredReply
from bot.core.stances import Stance
from bot.store import Store
from tests.conftest import Database

GUILD, OTHER_GUILD, ASKER = 1001, 2002, 77
GENERAL, SECRET = 10, 20


@pytest.fixture
async def store(database: Database) -> AsyncIterator[Store]:
    opened = await Store.open(database.url, **database.options)
    yield opened
    await opened.close()


async def begin(store: Store, question: str, *, guild: int = GUILD, channel: int = GENERAL) -> int:
    return await store.begin_debate(
        guild_id=guild, channel_id=channel, user_id=ASKER, question=question, panel=DEFAULT_PANEL
    )


async def test_summaries_come_newest_first_in_pages_and_only_from_the_given_channels(store: Store) -> None:
    ids = [await begin(store, f"Question {n}?", channel=SECRET if n % 3 == 0 else GENERAL) for n in range(12)]
    await begin(store, "Elsewhere?", guild=OTHER_GUILD)

    assert await store.count_debates(GUILD) == 12
    assert await store.debate_channels(GUILD) == {GENERAL, SECRET}
    first = await store.debate_summaries(GUILD, limit=5)
    second = await store.debate_summaries(GUILD, limit=5, offset=5)
    last = await store.debate_summaries(GUILD, limit=5, offset=10)
    assert [s.id for s in first + second + last] == ids[::-1]
    assert [s.question for s in last] == ["Question 1?", "Question 0?"]

    general_only = [i for n, i in enumerate(ids) if n % 3 != 0]
    assert await store.count_debates(GUILD, channel_ids={GENERAL}) == len(general_only) == 8
    listed = await store.debate_summaries(GUILD, channel_ids={GENERAL}, limit=50)
    assert [s.id for s in listed] == general_only[::-1]
    assert all(s.channel_id == GENERAL for s in listed)
    assert await store.count_debates(GUILD, channel_ids=set()) == 0
    assert await store.debate_summaries(GUILD, channel_ids=set(), limit=10) == []


async def test_summaries_match_the_typed_text_in_the_question_or_the_id(store: Store) -> None:
    pineapple = await begin(store, "Does PINEAPPLE belong on pizza?")
    await begin(store, "Is 100% of anything possible?")
    other = await begin(store, "Tabs or spaces?")
    assert [s.id for s in await store.debate_summaries(GUILD, limit=25, matching="pineapple")] == [pineapple]
    found = await store.debate_summaries(GUILD, limit=25, matching="100%")
    assert [s.question for s in found] == ["Is 100% of anything possible?"]
    assert await store.debate_summaries(GUILD, limit=25, matching="_") == []  # not a LIKE wildcard
    assert [s.id for s in await store.debate_summaries(GUILD, limit=25, matching=str(other))] == [other]


async def test_a_summary_tells_how_the_debate_ended_and_what_it_cost(store: Store) -> None:
    done, stopped, running = [await begin(store, q) for q in ("Done?", "Stopped?", "Running?")]
    before = datetime.now(UTC)
    await store.locate_debate(done, status_message_id=555, posts_channel_id=556)
    await store.record_reply(stopped, 0, DEFAULT_PANEL[0], PersonaReply("Yes.", "m", 0.3, TokenUsage(30, 4)))
    stats = DebateStats(2.0, 3.0, 1.0, TokenUsage(100, 50), 4, 4, rounds=2)
    await store.end_debate(
        done, DebateStatus.DONE, "✅ done in 2.0 s", verdict="V", stats=stats, judging=Judging("fb", (1, 0))
    )
    await store.end_debate(stopped, DebateStatus.STOPPED, "stopped by Ann (9)", verdict=None, stats=None)

    by_id = {s.id: s for s in await store.debate_summaries(GUILD, limit=10)}
    assert (by_id[done].status, by_id[done].tokens, by_id[done].verdict_model) == (
        DebateStatus.DONE,
        150,
        "fb",
    )
    assert (by_id[done].status_message_id, by_id[done].posts_channel_id) == (555, 556)
    assert (by_id[stopped].status, by_id[stopped].outcome) == (DebateStatus.STOPPED, "stopped by Ann (9)")
    assert by_id[stopped].tokens == 34  # no figures: what its recorded reply used
    assert (by_id[running].status, by_id[running].tokens, by_id[running].status_message_id) == (
        DebateStatus.RUNNING,
        0,
        None,
    )
    started = by_id[done].started_at
    assert started.tzinfo is not None
    assert before - timedelta(minutes=1) < started <= datetime.now(UTC)


async def test_a_stored_debate_holds_everything_for_its_transcript(store: Store) -> None:
    debate_id = await store.begin_debate(
        guild_id=GUILD, channel_id=GENERAL, user_id=ASKER, question="Q?", panel=DEFAULT_PANEL, rounds=2
    )
    claim = PersonaReply(
        "Yes, **because**.",
        "m",
        0.3,
        TokenUsage(4, 4),
        cut_off=True,
        stance=Stance.FOR,
        confidence=0.8,
        key_claim="It works.",
    )
    await store.record_reply(debate_id, 1, DEFAULT_PANEL[1], claim, 1)
    await store.record_reply(
        debate_id, 0, DEFAULT_PANEL[0], PersonaFailure("timed out", FailureKind.TIMEOUT, 4.0), 1
    )
    await store.record_reply(debate_id, 0, DEFAULT_PANEL[0], PersonaReply("No.", "m", 0.2, TokenUsage(1)), 2)
    stats = DebateStats(2.5, 3.0, 1.0, TokenUsage(100, 50), 3, 4, rounds=2)
    await store.end_debate(
        debate_id,
        DebateStatus.DONE,
        "✅ done in 2.5 s",
        verdict="The verdict.",
        stats=stats,
        judging=Judging("judge-model", (2, 0, 3, 1)),
    )

    debate = await store.stored_debate(debate_id)
    assert debate is not None
    assert (debate.summary.id, debate.summary.question, debate.summary.rounds) == (debate_id, "Q?", 2)
    assert debate.panel == DEFAULT_PANEL
    assert (debate.verdict, debate.wall_s, debate.persona_sum_s, debate.verdict_s) == (
        "The verdict.",
        2.5,
        3.0,
        1.0,
    )
    assert debate.judge_order == (2, 0, 3, 1)
    assert debate.finished_at is not None
    assert debate.finished_at >= debate.summary.started_at
    assert debate.replies == (
        StoredReply(0, "Rebel Pilot", None, "timed out"),
        StoredReply(1, "Imperial Officer", "Yes, **because**.", None, 1, Stance.FOR, 0.8, "It works.", True),
        StoredReply(0, "Rebel Pilot", "No.", None, 2, Stance.UNKNOWN),
    )
    assert await store.stored_debate(debate_id + 1000) is None
