"""The store on SQLite and on the real PostgreSQL: durability, atomicity, isolation, concurrency, audit."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import shutil
from collections.abc import AsyncIterator, Awaitable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from bot.core.debate import DebateStats, PersonaFailure, PersonaReply
from bot.core.llm import FailureKind, TokenUsage
from bot.core.panel import PANEL_MAX, StoredPanel, key, with_added, with_grounding, with_replaced, without
from bot.core.personas import DEFAULT_PANEL, ETHICS_PANEL, Persona
from bot.core.records import DebateStatus, Judging, StoredReply
from bot.core.stances import Stance
from bot.core.validation import NAME_MAX_LENGTH, Invalid, name_problems
from bot.store import Store, make_engine, personas, run_migrations
from tests.conftest import Database

GUILD, OTHER_GUILD, MODERATOR = 1001, 2002, 77
JUDGE = Persona("Judge", "⚖️", "You weigh the evidence like a judge.", 0x8E44AD, "gemini-3.5-flash")
REVISION_1_DB = Path(__file__).parent.parent / "data" / "parley-revision-0001.db"


@pytest.fixture
async def store(database: Database) -> AsyncIterator[Store]:
    opened = await Store.open(database.url, **database.options)
    yield opened
    await opened.close()


async def reopened(database: Database) -> Store:
    """A second store on the same database: another process, with a cold cache."""
    return await Store.open(database.url, **database.options)


def add(persona: Persona) -> functools.partial[tuple[Persona, ...]]:
    return functools.partial(with_added, persona=persona)


def names(panel: StoredPanel) -> list[str]:
    return [persona.name for persona in panel.personas]


async def test_a_new_server_has_the_default_panel(store: Store) -> None:
    panel = await store.panel(GUILD)
    assert panel.is_default
    assert panel.personas == DEFAULT_PANEL
    assert (await store.settings(GUILD)).moderator_role_id is None
    assert await store.audit_log(GUILD) == []


async def test_a_change_is_durable_and_audited(store: Store, database: Database) -> None:
    before, after = await store.change_panel(GUILD, MODERATOR, "add", add(JUDGE), "added ⚖️ Judge")
    assert before.is_default
    assert after.personas == (*DEFAULT_PANEL, JUDGE)

    other = await reopened(database)
    try:
        panel = await other.panel(GUILD)
        assert not panel.is_default
        assert panel.personas == (*DEFAULT_PANEL, JUDGE)
        (entry,) = await other.audit_log(GUILD)
    finally:
        await other.close()
    assert (entry.actor_id, entry.action, entry.summary) == (MODERATOR, "add", "added ⚖️ Judge")
    assert entry.before is None
    assert entry.after[-1] == {
        "name": "Judge",
        "emoji": "⚖️",
        "instructions": JUDGE.instructions,
        "colour": "#8E44AD",
        "model": "gemini-3.5-flash",
    }
    assert entry.at.tzinfo is not None


async def test_a_refused_change_writes_nothing(store: Store, database: Database) -> None:
    with pytest.raises(Invalid, match="at least 2 personas"):
        await store.change_panel(GUILD, MODERATOR, "remove", lambda panel: without(panel[:2], "Rebel Pilot"))
    full = tuple(Persona(f"P{i}", "🤖", "Speak as a robot.", i) for i in range(PANEL_MAX))
    await store.change_panel(GUILD, MODERATOR, "preset", lambda _panel: full)
    with pytest.raises(Invalid, match="panel is full"):
        await store.change_panel(GUILD, MODERATOR, "add", add(JUDGE))
    other = await reopened(database)
    try:
        assert (await other.panel(GUILD)).personas == full
        assert [entry.action for entry in await other.audit_log(GUILD)] == ["preset"]
    finally:
        await other.close()


async def test_reset_returns_to_the_default_panel(store: Store) -> None:
    await store.change_panel(GUILD, MODERATOR, "preset", lambda _panel: ETHICS_PANEL)
    before = await store.reset_panel(GUILD, MODERATOR + 1)
    assert before.personas == ETHICS_PANEL
    assert (await store.panel(GUILD)).is_default
    newest, oldest = await store.audit_log(GUILD)
    assert (newest.action, newest.actor_id, newest.after) == ("reset", MODERATOR + 1, None)
    assert [persona["name"] for persona in newest.before] == [p.name for p in ETHICS_PANEL]
    assert oldest.action == "preset"


async def test_moderator_role_is_set_cleared_and_audited(store: Store) -> None:
    assert (await store.set_moderator_role(GUILD, MODERATOR, 555)).moderator_role_id == 555
    assert (await store.settings(GUILD)).moderator_role_id == 555
    assert (await store.set_moderator_role(GUILD, MODERATOR, None)).moderator_role_id is None
    cleared, set_ = await store.audit_log(GUILD)
    assert (set_.before, set_.after) == ({"moderator_role_id": None}, {"moderator_role_id": 555})
    assert (cleared.summary, cleared.after) == ("moderator role cleared", {"moderator_role_id": None})


async def test_servers_do_not_see_each_others_panels(store: Store) -> None:
    await store.change_panel(GUILD, MODERATOR, "add", add(JUDGE))
    await store.set_moderator_role(GUILD, MODERATOR, 555)
    assert (await store.panel(OTHER_GUILD)).is_default
    assert (await store.settings(OTHER_GUILD)).moderator_role_id is None
    assert await store.audit_log(OTHER_GUILD) == []


async def test_concurrent_edits_of_different_personas_from_two_processes_both_persist(
    store: Store, database: Database
) -> None:
    await store.change_panel(GUILD, MODERATOR, "preset", lambda _panel: DEFAULT_PANEL)
    other = await reopened(database)
    try:
        rebel = dataclasses.replace(DEFAULT_PANEL[0], instructions="You are a veteran of Hoth now.")
        droid = dataclasses.replace(DEFAULT_PANEL[3], instructions="You compute odds, always.")
        edits = [
            (store if index % 2 else other).change_panel(
                GUILD, MODERATOR, "edit", functools.partial(with_replaced, name=persona.name, persona=persona)
            )
            for index, persona in enumerate([rebel, droid] * 3)
        ]
        await asyncio.gather(*edits)
        fresh = await reopened(database)
        try:
            panel = (await fresh.panel(GUILD)).personas
            assert len(await fresh.audit_log(GUILD)) == 7
        finally:
            await fresh.close()
    finally:
        await other.close()
    assert panel[0].instructions == "You are a veteran of Hoth now."
    assert panel[3].instructions == "You compute odds, always."
    assert panel[1:3] == DEFAULT_PANEL[1:3]


async def test_reads_are_cached_until_the_ttl_and_local_writes_refresh_at_once(database: Database) -> None:
    now = [0.0]
    writer = await Store.open(database.url, **database.options)
    reader = Store(make_engine(database.url, **database.options), cache_ttl_s=10, clock=lambda: now[0])
    try:
        assert (await reader.panel(GUILD)).is_default
        await writer.change_panel(GUILD, MODERATOR, "add", add(JUDGE))
        assert (await reader.panel(GUILD)).is_default, "served from the cache"
        now[0] = 11.0
        assert (await reader.panel(GUILD)).personas[-1] == JUDGE, "expired, read again"
        await reader.change_panel(GUILD, MODERATOR, "remove", functools.partial(without, name="judge"))
        assert names(await reader.panel(GUILD)) == [p.name for p in DEFAULT_PANEL]
    finally:
        await reader.close()
        await writer.close()


async def test_the_schema_matches_the_newest_migration(store: Store, database: Database) -> None:
    engine = make_engine(database.url, **database.options)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            columns = await connection.run_sync(
                lambda sync: {column["name"] for column in inspect(sync).get_columns("guilds")}
            )
    finally:
        await engine.dispose()
    assert {"guilds", "personas", "audit_log", "alembic_version"} <= tables
    assert "moderator_role_id" in columns


async def test_a_revision_one_sqlite_file_upgrades_without_loss(tmp_path: Path) -> None:
    copy = tmp_path / "old.db"
    shutil.copy(REVISION_1_DB, copy)
    store = await Store.open(f"sqlite+aiosqlite:///{copy}")
    try:
        panel = await store.panel(424242)
        assert [persona.name for persona in panel.personas] == ["Judge", "Prosecutor", "Defender"]
        assert panel.personas[0].model == "gemini-3.5-flash"
        assert (await store.settings(424242)).moderator_role_id is None
        await store.set_moderator_role(424242, MODERATOR, 31337)
        assert [entry.action for entry in await store.audit_log(424242)] == ["moderator-role"]
    finally:
        await store.close()


async def test_the_same_upgrade_runs_on_postgresql_and_sqlite(database: Database) -> None:
    engine = make_engine(database.url, **database.options)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations, "0001")
            await connection.exec_driver_sql("INSERT INTO guilds (guild_id) VALUES (7)")
            await connection.execute(
                personas.insert(),
                [
                    {
                        "guild_id": 7,
                        "position": i,
                        "name": n,
                        "name_key": n.lower(),
                        "emoji": "⚖️",
                        "instructions": f"You are the {n}.",
                        "colour": i,
                        "model": None,
                    }
                    for i, n in enumerate(["Judge", "Jury"])
                ],
            )
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
            names = (
                await connection.execute(select(personas.c.name).order_by(personas.c.position))
            ).scalars()
            assert list(names) == ["Judge", "Jury"]
    finally:
        await engine.dispose()
    store = await Store.open(database.url, **database.options)
    try:
        assert [persona.name for persona in (await store.panel(7)).personas] == ["Judge", "Jury"]
    finally:
        await store.close()


async def test_limits_are_per_server_settings_and_audited(store: Store) -> None:
    settings = await store.update_settings(GUILD, MODERATOR, cooldown_s=30, daily_token_budget=5000)
    assert (settings.cooldown_s, settings.max_debates, settings.daily_token_budget) == (30, None, 5000)
    assert (await store.update_settings(GUILD, MODERATOR, max_debates=3)).max_debates == 3
    assert (await store.settings(OTHER_GUILD)).cooldown_s is None
    newest, oldest = await store.audit_log(GUILD)
    assert (oldest.action, oldest.summary) == (
        "settings",
        "cooldown s set to 30, daily token budget set to 5000",
    )
    assert (oldest.before, oldest.after) == (
        {"cooldown_s": None, "daily_token_budget": None},
        {"cooldown_s": 30, "daily_token_budget": 5000},
    )
    assert newest.after == {"max_debates": 3}
    with pytest.raises(ValueError, match="not settings"):
        await store.update_settings(GUILD, MODERATOR, moderator_role_id=1)


async def test_token_usage_adds_up_per_server_and_day_even_from_two_processes(
    store: Store, database: Database
) -> None:
    today, tomorrow = date(2026, 11, 25), date(2026, 11, 26)
    other = await reopened(database)
    try:
        await asyncio.gather(*((store if n % 2 else other).add_tokens(GUILD, today, 100) for n in range(10)))
        assert await other.add_tokens(GUILD, tomorrow, 7) == 7
    finally:
        await other.close()
    assert await store.tokens_used(GUILD, today) == 1000
    assert await store.tokens_used(GUILD, tomorrow) == 7
    assert await store.tokens_used(OTHER_GUILD, today) == 0


async def test_a_debate_is_recorded_as_it_progresses(store: Store) -> None:
    debate_id = await store.begin_debate(
        guild_id=GUILD, channel_id=5, user_id=MODERATOR, question="Justified?", panel=DEFAULT_PANEL
    )
    (unfinished,) = await store.unfinished_debates()
    assert (unfinished.id, unfinished.question, unfinished.answered) == (debate_id, "Justified?", 0)
    assert unfinished.panel == DEFAULT_PANEL
    assert (unfinished.status_message_id, unfinished.posts_channel_id) == (None, None)

    await store.locate_debate(debate_id, status_message_id=77, posts_channel_id=77)
    await store.record_reply(
        debate_id, 2, DEFAULT_PANEL[2], PersonaReply("Prices rose.", "m", 0.4, TokenUsage(5, 6))
    )
    await store.record_reply(
        debate_id,
        0,
        DEFAULT_PANEL[0],
        PersonaFailure("quota exhausted for today", FailureKind.QUOTA_EXHAUSTED, 0.1),
    )
    (unfinished,) = await store.unfinished_debates()
    assert (unfinished.status_message_id, unfinished.posts_channel_id, unfinished.answered) == (77, 77, 2)
    assert await store.debate_replies(debate_id) == [
        StoredReply(0, "Rebel Pilot", None, "quota exhausted for today"),
        StoredReply(2, "Neutral Citizen", "Prices rose.", None, 1, Stance.UNKNOWN),
    ]

    assert await store.debate_tokens(debate_id) == 11
    assert await store.debate_tokens(debate_id + 1000) == 0

    stats = DebateStats(2.0, 3.0, 1.0, TokenUsage(100, 50), 3, 4)
    await store.end_debate(
        debate_id, DebateStatus.DONE, "✅ done in 2.0 s", verdict="Justified.", stats=stats
    )
    assert await store.unfinished_debates() == []
    assert await store.debate_status(debate_id) is DebateStatus.DONE
    assert await store.debate_status(debate_id + 1000) is None


async def test_unfinished_debates_can_leave_out_those_of_the_running_run(store: Store) -> None:
    def begin(run_id: str | None) -> Awaitable[int]:
        return store.begin_debate(
            guild_id=GUILD, channel_id=5, user_id=MODERATOR, question="Q", panel=DEFAULT_PANEL, run_id=run_id
        )

    earlier, legacy, current = await begin("earlier-run"), await begin(None), await begin("this-run")
    assert [d.id for d in await store.unfinished_debates()] == [earlier, legacy, current]
    assert [d.id for d in await store.unfinished_debates(not_of_run="this-run")] == [earlier, legacy]


async def test_a_stopped_debate_is_not_left_for_recovery(store: Store) -> None:
    def begin() -> Awaitable[int]:
        return store.begin_debate(
            guild_id=GUILD, channel_id=5, user_id=MODERATOR, question="Q", panel=DEFAULT_PANEL, run_id="old"
        )

    stopped, running = await begin(), await begin()
    await store.end_debate(stopped, DebateStatus.STOPPED, "stopped by Obi-Wan (7)", verdict=None, stats=None)
    assert [d.id for d in await store.unfinished_debates(not_of_run="new")] == [running]
    assert await store.debate_status(stopped) is DebateStatus.STOPPED


async def test_a_debates_tokens_are_the_sum_of_its_recorded_replies(store: Store) -> None:
    first, second = [
        await store.begin_debate(
            guild_id=GUILD, channel_id=5, user_id=MODERATOR, question=q, panel=DEFAULT_PANEL
        )
        for q in ("First?", "Second?")
    ]
    assert await store.debate_tokens(first) == 0
    await store.record_reply(first, 0, DEFAULT_PANEL[0], PersonaReply("Yes.", "m", 0.3, TokenUsage(40, 2, 8)))
    failure = PersonaFailure("cut off", FailureKind.TIMEOUT, 4.0, TokenUsage(30))
    await store.record_reply(first, 1, DEFAULT_PANEL[1], failure)
    await store.record_reply(second, 0, DEFAULT_PANEL[0], PersonaReply("No.", "m", 0.2, TokenUsage(7, 1)))
    assert await store.debate_tokens(first) == 80
    assert await store.debate_tokens(second) == 8


@pytest.mark.parametrize(
    "letter",
    [
        pytest.param("ß", id="sharp-s-folds-to-ss"),
        pytest.param("ΐ", id="iota-folds-to-three-code-points"),
    ],
)
async def test_a_name_whose_case_fold_is_longer_than_the_name_is_stored_and_found(
    store: Store, database: Database, letter: str
) -> None:
    name = letter * NAME_MAX_LENGTH
    assert name_problems(name) == []
    assert len(key(name)) > NAME_MAX_LENGTH
    persona = Persona(name, "🔤", "You speak of letters and their cases.", 0x123456)
    await store.change_panel(GUILD, MODERATOR, "add", add(persona))
    renamed = dataclasses.replace(persona, instructions="You speak of folding, above all.")
    found_by = name.upper() if letter == "ß" else name  # "ß".upper() is "SS": same key, other spelling
    await store.change_panel(
        GUILD, MODERATOR, "edit", functools.partial(with_replaced, name=found_by, persona=renamed)
    )
    other = await reopened(database)
    try:
        assert (await other.panel(GUILD)).personas[-1] == renamed
    finally:
        await other.close()
    engine = make_engine(database.url, **database.options)
    try:
        async with engine.connect() as connection:
            keys = (await connection.execute(select(personas.c.name_key))).scalars().all()
    finally:
        await engine.dispose()
    assert key(name) in keys


async def test_replies_are_kept_per_round_with_their_stances_and_the_judging(store: Store) -> None:
    debate_id = await store.begin_debate(
        guild_id=GUILD, channel_id=5, user_id=MODERATOR, question="Q", panel=DEFAULT_PANEL, rounds=2
    )
    first = PersonaReply(
        "Maybe.", "m", 0.3, TokenUsage(4, 4), stance=Stance.MIXED, confidence=0.5, key_claim="k"
    )
    second = PersonaReply("No.", "m", 0.2, TokenUsage(3, 3), stance=Stance.AGAINST)
    await store.record_reply(debate_id, 0, DEFAULT_PANEL[0], first, 1)
    await store.record_reply(debate_id, 1, DEFAULT_PANEL[1], first, 1)
    await store.record_reply(debate_id, 0, DEFAULT_PANEL[0], second, 2)
    assert await store.debate_replies(debate_id) == [
        StoredReply(0, "Rebel Pilot", "Maybe.", None, 1, Stance.MIXED, 0.5, "k"),
        StoredReply(1, "Imperial Officer", "Maybe.", None, 1, Stance.MIXED, 0.5, "k"),
        StoredReply(0, "Rebel Pilot", "No.", None, 2, Stance.AGAINST),
    ]
    (unfinished,) = await store.unfinished_debates()
    assert unfinished.answered == 2  # personas heard, not replies counted over the rounds
    assert await store.debate_tokens(debate_id) == 22
    assert await store.debate_judging(debate_id) is None
    stats = DebateStats(2.0, 3.0, 1.0, TokenUsage(100, 50), 2, 4, rounds=2)
    await store.end_debate(
        debate_id,
        DebateStatus.DONE,
        "done",
        verdict="V",
        stats=stats,
        judging=Judging("fallback-model", (2, 0, 3, 1)),
    )
    assert await store.debate_judging(debate_id) == Judging("fallback-model", (2, 0, 3, 1))


async def test_replies_recorded_before_rounds_upgrade_as_round_one(database: Database) -> None:
    engine = make_engine(database.url, **database.options)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations, "0005")
            await connection.exec_driver_sql(
                "INSERT INTO debates (id, guild_id, channel_id, user_id, question, panel, status, "
                "started_at) VALUES (1, 7, 8, 9, 'Q?', '[]', 'done', CURRENT_TIMESTAMP)"
            )
            await connection.exec_driver_sql(
                "INSERT INTO debate_replies (debate_id, position, persona, text, failure, cut_off, "
                "latency_s, tokens) VALUES (1, 0, 'Judge', 'Guilty.', NULL, false, 0.5, 12)"
            )
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()
    store = await Store.open(database.url, **database.options)
    try:
        assert await store.debate_replies(1) == [StoredReply(0, "Judge", "Guilty.", None, 1, None)]
        await store.record_reply(
            1, 0, DEFAULT_PANEL[0], PersonaReply("Still guilty.", "m", 0.1, TokenUsage(1)), 2
        )
        assert [reply.round for reply in await store.debate_replies(1)] == [1, 2]
        assert await store.debate_tokens(1) == 13
    finally:
        await store.close()


async def test_a_pinned_language_is_kept_cleared_and_audited(store: Store) -> None:
    assert (await store.settings(GUILD)).language is None
    assert (await store.set_language(GUILD, MODERATOR, "pt-BR")).language == "pt-BR"
    assert (await store.settings(GUILD)).language == "pt-BR"
    assert (await store.set_language(GUILD, MODERATOR, None)).language is None
    entries = await store.audit_log(GUILD)
    assert [(entry.action, entry.summary) for entry in entries[:2]] == [
        ("language", "language set to each asker's own"),
        ("language", "language set to pt-BR"),
    ]
    assert (entries[1].before, entries[1].after) == ({"language": None}, {"language": "pt-BR"})


async def test_personas_stored_before_grounding_upgrade_as_ungrounded_and_grounding_persists(
    database: Database,
) -> None:
    engine = make_engine(database.url, **database.options)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations, "0008")
            await connection.exec_driver_sql("INSERT INTO guilds (guild_id) VALUES (7)")
            await connection.exec_driver_sql(
                "INSERT INTO personas (guild_id, position, name, name_key, emoji, instructions, colour) "
                "VALUES (7, 0, 'Judge', 'judge', '⚖️', 'You are the judge.', 1), "
                "(7, 1, 'Jury', 'jury', '👥', 'You are the jury.', 2)"
            )
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()
    store = await Store.open(database.url, **database.options)
    try:
        assert [(p.name, p.grounded) for p in (await store.panel(7)).personas] == [
            ("Judge", False),
            ("Jury", False),
        ]
        await store.change_panel(
            7, MODERATOR, "grounded", functools.partial(with_grounding, name="jury", grounded=True)
        )
        [entry] = await store.audit_log(7)
        assert entry.after[1] == {**entry.before[1], "grounded": True}
        assert "grounded" not in entry.before[1]
    finally:
        await store.close()
    other = await reopened(database)
    try:
        assert [p.grounded for p in (await other.panel(7)).personas] == [False, True]
    finally:
        await other.close()
