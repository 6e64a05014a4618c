"""Continuations in the store, on SQLite and on the real PostgreSQL: records linked to their parent, the
chain read back root first, one claim of another round per debate even across processes, the chain's
limit, and deletions that take a debate's continuations with it and count them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.core.continuations import ChainFull, ContinuationKind, RoundTaken
from bot.core.debate import PersonaReply
from bot.core.llm import TokenUsage
from bot.core.personas import DEFAULT_PANEL
from bot.core.records import DebateStatus
from bot.store import Store, debate_replies, debates, make_engine
from tests.conftest import Database

GUILD, ASKER, PRESSER = 1001, 88, 99
ROUND, FOLLOW_UP = ContinuationKind.ROUND, ContinuationKind.FOLLOW_UP


@pytest.fixture
async def store(database: Database) -> AsyncIterator[Store]:
    opened = await Store.open(database.url, **database.options)
    yield opened
    await opened.close()


async def finished_debate(store: Store, *, user_id: int = ASKER, rounds: int = 2) -> int:
    debate_id = await store.begin_debate(
        guild_id=GUILD,
        channel_id=5,
        user_id=user_id,
        question="Negotiate?",
        panel=DEFAULT_PANEL,
        rounds=rounds,
    )
    for number in range(1, rounds + 1):
        for position in (0, 1):
            reply = PersonaReply(f"{position} r{number}", "m", 0.1, TokenUsage(1, 2))
            await store.record_reply(debate_id, position, DEFAULT_PANEL[position], reply, number)
    await store.end_debate(debate_id, DebateStatus.DONE, "done", verdict=f"Verdict {debate_id}.", stats=None)
    return debate_id


async def continue_(
    store: Store,
    parent: int,
    kind: ContinuationKind,
    *,
    user_id: int = PRESSER,
    limit: int = 5,
    done: bool = True,
) -> int:
    question = "And then?" if kind is FOLLOW_UP else "Negotiate?"
    debate_id = await store.begin_continuation(
        parent, kind, user_id=user_id, question=question, rounds=3 if kind is ROUND else 1, limit=limit
    )
    number = 3 if kind is ROUND else 1
    await store.record_reply(
        debate_id, 0, DEFAULT_PANEL[0], PersonaReply("x", "m", 0.1, TokenUsage(1)), number
    )
    if done:
        await store.end_debate(
            debate_id, DebateStatus.DONE, "done", verdict=f"Verdict {debate_id}.", stats=None
        )
    return debate_id


async def test_a_continuation_is_a_debate_linked_to_its_parent_and_the_chain_reads_back_root_first(
    store: Store,
) -> None:
    root = await finished_debate(store)
    again = await continue_(store, root, ROUND, done=False)
    (unfinished,) = await store.unfinished_debates()
    assert unfinished.continues_id == root
    await store.end_debate(again, DebateStatus.DONE, "done", verdict="V.", stats=None)
    follow = await continue_(store, again, FOLLOW_UP)
    chain = await store.debate_chain(follow)
    assert [debate.summary.id for debate in chain] == [root, again, follow]
    assert [(d.summary.continues_id, d.summary.kind) for d in chain] == [
        (None, None),
        (root, "round"),
        (again, "followup"),
    ]
    assert chain[1].summary.question == "Negotiate?"
    assert chain[1].summary.rounds == 3
    assert [(reply.round, reply.text) for reply in chain[1].replies] == [(3, "x")], "absolute round numbers"
    assert chain[2].summary.question == "And then?"
    assert chain[1].panel == DEFAULT_PANEL
    assert chain[2].summary.channel_id == 5, "asked in the root's channel"
    assert chain[1].summary.user_id == PRESSER
    summaries = await store.debate_summaries(GUILD, limit=10)
    assert [(s.id, s.continues_id) for s in summaries] == [(follow, again), (again, root), (root, None)]
    assert await store.debate_chain(12345) == []


async def test_one_round_per_debate_even_from_two_processes_at_once_and_the_newest_is_found(
    store: Store, database: Database
) -> None:
    root = await finished_debate(store)
    other = await Store.open(database.url, **database.options)  # another process
    try:
        outcomes = await asyncio.gather(
            *(
                s.begin_continuation(root, ROUND, user_id=PRESSER, question="Negotiate?", rounds=3, limit=5)
                for s in (store, other, store, other)
            ),
            return_exceptions=True,
        )
    finally:
        await other.close()
    won = [outcome for outcome in outcomes if isinstance(outcome, int)]
    lost = [outcome for outcome in outcomes if isinstance(outcome, RoundTaken)]
    assert len(won) == 1, outcomes
    assert len(lost) == 3
    assert all(refusal.latest == won[0] for refusal in lost)
    latest = await store.latest_round(root)
    assert latest is not None
    assert latest.id == won[0]
    # Follow-ups are not claims: several may follow the same verdict.
    first = await continue_(store, root, FOLLOW_UP)
    second = await continue_(store, root, FOLLOW_UP)
    assert first != second
    # A round of the round: the newest is found from the root.
    third = await continue_(store, won[0], ROUND)
    newest = await store.latest_round(root)
    assert newest is not None
    assert newest.id == third


async def test_a_round_that_gave_its_claim_back_may_be_asked_again(store: Store) -> None:
    root = await finished_debate(store)
    failed = await continue_(store, root, ROUND, done=False)
    with pytest.raises(RoundTaken):
        await continue_(store, root, ROUND)
    await store.release_round(root, failed)
    again = await continue_(store, root, ROUND)
    latest = await store.latest_round(root)
    assert latest is not None
    assert latest.id == again


async def test_a_chain_takes_at_most_its_limit_of_continuations_whatever_their_kind(store: Store) -> None:
    root = await finished_debate(store)
    parent = root
    for number in range(3):
        parent = await continue_(store, parent, ROUND if number % 2 else FOLLOW_UP, limit=3)
    assert await store.count_continuations(root) == 3
    assert await store.count_continuations(parent) == 3
    assert await store.count_continuations(12345) == 0
    with pytest.raises(ChainFull):
        await continue_(store, parent, FOLLOW_UP, limit=3)
    with pytest.raises(ChainFull):
        await continue_(store, root, FOLLOW_UP, limit=3)
    assert len(await store.debate_summaries(GUILD, limit=10)) == 4


async def all_ids(database: Database) -> tuple[set[int], set[int]]:
    engine = make_engine(database.url, **database.options)
    try:
        async with engine.connect() as connection:
            ids = set((await connection.execute(select(debates.c.id))).scalars())
            replied = set((await connection.execute(select(debate_replies.c.debate_id))).scalars())
    finally:
        await engine.dispose()
    return ids, replied


async def test_deleting_a_debate_deletes_its_continuations_counted_and_keeps_a_chain_still_running(
    store: Store, database: Database
) -> None:
    root = await finished_debate(store)
    again = await continue_(store, root, ROUND, user_id=ASKER)
    follow = await continue_(store, again, FOLLOW_UP)  # another member's follow-up of the asker's debate
    kept = await finished_debate(store, user_id=PRESSER)
    busy = await finished_debate(store)
    running = await continue_(store, busy, FOLLOW_UP, done=False)
    presser_round = await continue_(store, kept, ROUND)
    # The member's own continuation of someone else's debate goes, and gives the claim back.
    deleted, still_running, _votes = await store.forget_member(GUILD, 7, PRESSER)
    assert deleted == 3  # kept, its round, and the follow-up of the asker's debate
    assert still_running == 1  # the running follow-up of ``busy``
    ids, replied = await all_ids(database)
    assert ids == {root, again, busy, running}
    assert replied <= ids
    assert presser_round not in ids
    assert follow not in ids
    # Retention takes the asker's chain whole, but not the one with a continuation still running.
    engine = make_engine(database.url, **database.options)
    try:
        async with engine.begin() as connection:
            old = datetime.now(UTC) - timedelta(days=40)
            await connection.execute(
                update(debates).where(debates.c.id.in_([root, busy])).values(started_at=old)
            )
    finally:
        await engine.dispose()
    assert await store.delete_debates_started_before(GUILD, datetime.now(UTC) - timedelta(days=30)) == 2
    ids, replied = await all_ids(database)
    assert ids == {busy, running}
    assert replied == {busy, running}
    assert await store.forget_guild(GUILD) == 2
    assert await all_ids(database) == (set(), set())


async def test_deleting_a_parent_at_the_database_level_cascades_to_its_continuations(
    store: Store, database: Database
) -> None:
    root = await finished_debate(store)
    again = await continue_(store, root, ROUND)
    engine = make_engine(database.url, **database.options)
    try:
        async with engine.begin() as connection:
            await connection.execute(debates.delete().where(debates.c.id == root))
    finally:
        await engine.dispose()
    ids, replied = await all_ids(database)
    assert again not in ids
    assert replied == set()


async def test_the_chain_limit_holds_when_two_processes_continue_it_at_once(
    store: Store, database: Database
) -> None:
    root = await finished_debate(store)
    other = await Store.open(database.url, **database.options)  # another process
    try:
        outcomes = await asyncio.gather(
            *(
                s.begin_continuation(root, FOLLOW_UP, user_id=PRESSER, question="And?", rounds=1, limit=2)
                for s in (store, other, store, other, store, other)
            ),
            return_exceptions=True,
        )
    finally:
        await other.close()
    assert len([outcome for outcome in outcomes if isinstance(outcome, int)]) == 2, outcomes
    assert len([outcome for outcome in outcomes if isinstance(outcome, ChainFull)]) == 4
    assert await store.count_continuations(root) == 2
