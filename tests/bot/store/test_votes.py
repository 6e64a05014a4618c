"""The crowd's votes on SQLite and on the real PostgreSQL: one per member and debate, changeable, counted
per persona, safe when members (or one member from two processes) vote at once, and deleted with their
debate, with their server, and with the member on ``/parley forget``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, select

from bot.core.debate import PersonaFailure, PersonaReply
from bot.core.llm import FailureKind, TokenUsage
from bot.core.personas import DEFAULT_PANEL
from bot.core.records import DebateStatus, NoSuchDebate
from bot.core.stances import Stance
from bot.store import Store, debate_votes, make_engine
from tests.conftest import Database

GUILD, OTHER_GUILD = 1001, 2002
MODERATOR, ASKER, LEIA, HAN, LUKE = 77, 88, 11, 12, 13


@pytest.fixture
async def store(database: Database) -> AsyncIterator[Store]:
    opened = await Store.open(database.url, **database.options)
    yield opened
    await opened.close()


def reply(stance: Stance) -> PersonaReply:
    return PersonaReply(f"I am {stance}.", "m", 0.5, TokenUsage(3, 4), stance=stance)


async def finished_debate(store: Store, guild_id: int = GUILD, user_id: int = ASKER) -> int:
    debate_id = await store.begin_debate(
        guild_id=guild_id, channel_id=5, user_id=user_id, question="Was it worth it?", panel=DEFAULT_PANEL
    )
    await store.end_debate(debate_id, DebateStatus.DONE, "✅ done", verdict="Yes.", stats=None)
    return debate_id


async def vote_rows(database: Database) -> list[tuple[int, int, int]]:
    engine = make_engine(database.url, **database.options)
    try:
        async with engine.connect() as connection:
            query = select(debate_votes.c.debate_id, debate_votes.c.user_id, debate_votes.c.position)
            return sorted(tuple(row) for row in (await connection.execute(query)).all())
    finally:
        await engine.dispose()


async def test_a_member_has_one_vote_per_debate_and_changing_it_replaces_it(
    store: Store, database: Database
) -> None:
    first, second = await finished_debate(store), await finished_debate(store)
    assert await store.vote_counts(first) == {}

    assert await store.cast_vote(first, LEIA, 0) is None
    assert await store.cast_vote(first, HAN, 0) is None
    assert await store.cast_vote(first, LUKE, 2) is None
    assert await store.cast_vote(second, LEIA, 1) is None
    assert await store.cast_vote(first, LEIA, 2) == 0, "the vote it replaced"
    assert await store.cast_vote(first, LEIA, 2) == 2, "the same vote again changes nothing"

    assert await store.vote_counts(first) == {0: 1, 2: 2}
    assert await store.vote_counts(second) == {1: 1}
    assert await vote_rows(database) == sorted(
        [(first, LEIA, 2), (first, HAN, 0), (first, LUKE, 2), (second, LEIA, 1)]
    )


async def test_a_vote_on_a_debate_that_is_not_recorded_is_refused_and_writes_nothing(
    store: Store, database: Database
) -> None:
    gone = await finished_debate(store)
    await store.set_retention(GUILD, MODERATOR, 1)
    deleted = await store.delete_debates_started_before(GUILD, datetime.now(UTC) + timedelta(days=1))
    assert deleted == 1
    with pytest.raises(NoSuchDebate):
        await store.cast_vote(gone, LEIA, 0)
    assert await vote_rows(database) == []
    assert await store.debate_standing(gone) is None


async def test_many_members_voting_at_once_from_two_processes_are_all_counted_once(
    store: Store, database: Database
) -> None:
    debate_id = await finished_debate(store)
    other = await Store.open(database.url, **database.options)  # a second process on the same database
    try:
        members = range(100, 140)
        # Every member votes twice at once, from both processes: first for a persona, then for another.
        await asyncio.gather(
            *(
                (store if member % 2 else other).cast_vote(debate_id, member, member % 3)
                for member in members
            ),
            *(other.cast_vote(debate_id, member, 4) for member in members if member % 5 == 0),
        )
        counts = await store.vote_counts(debate_id)
    finally:
        await other.close()
    assert sum(counts.values()) == len(members), "one vote per member, whatever the order"
    assert len(await vote_rows(database)) == len(members)


async def test_the_standing_is_the_panel_and_each_personas_stance_in_the_last_round_it_answered(
    store: Store,
) -> None:
    debate_id = await store.begin_debate(
        guild_id=GUILD, channel_id=5, user_id=ASKER, question="Q?", panel=DEFAULT_PANEL, rounds=2
    )
    failure = PersonaFailure("timed out", FailureKind.TIMEOUT, 4.0)
    await store.record_reply(debate_id, 0, DEFAULT_PANEL[0], reply(Stance.FOR), 1)
    await store.record_reply(debate_id, 0, DEFAULT_PANEL[0], reply(Stance.AGAINST), 2)
    await store.record_reply(debate_id, 1, DEFAULT_PANEL[1], reply(Stance.MIXED), 1)
    await store.record_reply(debate_id, 1, DEFAULT_PANEL[1], failure, 2)  # keeps its round-1 stance
    await store.record_reply(debate_id, 2, DEFAULT_PANEL[2], failure, 1)

    standing = await store.debate_standing(debate_id)

    assert standing is not None
    assert standing.guild_id == GUILD
    assert standing.panel == DEFAULT_PANEL
    expected = (Stance.AGAINST, Stance.MIXED, *([None] * (len(DEFAULT_PANEL) - 2)))
    assert standing.stances == expected


async def test_votes_go_with_their_debate_their_server_and_the_member_who_asks_to_be_forgotten(
    store: Store, database: Database
) -> None:
    leias_debate = await finished_debate(store, user_id=LEIA)
    hans_debate = await finished_debate(store, user_id=HAN)
    elsewhere = await finished_debate(store, guild_id=OTHER_GUILD, user_id=HAN)
    for debate_id in (leias_debate, hans_debate, elsewhere):
        for member, position in ((LEIA, 0), (HAN, 1), (LUKE, 2)):
            await store.cast_vote(debate_id, member, position)

    # Leia is forgotten here: her debate (every vote on it) and her votes on this server's other debates.
    forgotten = await store.forget_member(GUILD, MODERATOR, LEIA)

    assert forgotten == (1, 0, 2)
    assert (forgotten.debates, forgotten.running, forgotten.votes) == (1, 0, 2)
    assert await vote_rows(database) == sorted(
        [
            (hans_debate, HAN, 1),
            (hans_debate, LUKE, 2),
            (elsewhere, LEIA, 0),
            (elsewhere, HAN, 1),
            (elsewhere, LUKE, 2),
        ]
    )
    entry, *_ = await store.audit_log(GUILD)
    assert entry.summary == f"deleted 1 debates started by member {LEIA} and 2 of their votes"
    assert entry.after == {"member_id": LEIA, "deleted": 1, "running": 0, "votes": 2}

    # The server's retention deletes Han's debate here, votes and all.
    await store.delete_debates_started_before(GUILD, datetime.now(UTC) + timedelta(days=1))
    assert {row[0] for row in await vote_rows(database)} == {elsewhere}

    # Parley leaves the other server: its votes go with it.
    assert await store.forget_guild(OTHER_GUILD) == 1
    assert await vote_rows(database) == []


async def test_the_migration_makes_the_votes_table_the_schema_describes(
    store: Store, database: Database
) -> None:
    engine = make_engine(database.url, **database.options)
    try:
        async with engine.connect() as connection:
            layout = await connection.run_sync(
                lambda sync: (
                    {column["name"] for column in inspect(sync).get_columns("debate_votes")},
                    inspect(sync).get_pk_constraint("debate_votes")["constrained_columns"],
                    inspect(sync).get_foreign_keys("debate_votes"),
                )
            )
    finally:
        await engine.dispose()
    columns, primary_key, (foreign_key,) = layout
    assert columns == {column.name for column in debate_votes.columns}
    assert primary_key == ["debate_id", "user_id"]
    assert (foreign_key["referred_table"], foreign_key["constrained_columns"]) == ("debates", ["debate_id"])
    assert foreign_key["options"].get("ondelete") == "CASCADE"


async def test_the_standing_keeps_the_language_each_debate_and_continuation_is_held_in(store: Store) -> None:
    german = await store.begin_debate(
        guild_id=GUILD,
        channel_id=5,
        user_id=ASKER,
        question="Lohnt es sich?",
        panel=DEFAULT_PANEL,
        language="de",
    )
    await store.end_debate(german, DebateStatus.DONE, "✅ done", verdict="Ja.", stats=None)
    brazilian = await store.begin_continuation(
        german, "followup", user_id=LEIA, question="E agora?", limit=5, language="pt-BR"
    )
    english = await finished_debate(store)

    standings = [await store.debate_standing(record) for record in (german, brazilian, english)]

    assert [standing.language if standing else "missing" for standing in standings] == ["de", "pt-BR", None]
