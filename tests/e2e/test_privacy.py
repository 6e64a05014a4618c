"""Privacy through the fakes: ``/parley retention`` and the daily purge, ``/parley forget``, and a
GUILD_DELETE making Parley delete everything of that server. Members who are not moderators are refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select, update

from bot.client import ParleyBot
from bot.store import Store, audit_log, debate_replies, debates, guilds, make_engine, personas, token_usage
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    run,
    run_debate_command,
    running_parley,
    settled_original,
)
from tests.e2e.test_personas import Server, make_server
from tests.fakes.fake_discord import FakeDiscord, FakeMember
from tests.fakes.fake_gemini import FakeGemini

pytestmark = pytest.mark.e2e

T = TypeVar("T")
REFUSAL = "Only moderators can do this: it needs the **Manage Server** permission."


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=GEMINI_KEY) as fake:
        yield fake


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=DISCORD_TOKEN) as fake:
        yield fake


@pytest.fixture
def server(discord_fake: FakeDiscord) -> Server:
    return make_server(discord_fake, "Law Society")


@pytest.fixture
def other(discord_fake: FakeDiscord) -> Server:
    return make_server(discord_fake, "Product Team")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}"


@pytest.fixture
async def parley(
    discord_fake: FakeDiscord, gemini: FakeGemini, server: Server, other: Server, database_url: str
) -> AsyncIterator[ParleyBot]:
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url) as bot:
        yield bot


async def stored_debates(database_url: str) -> dict[str, tuple[int, int]]:
    """Each recorded debate's question → (guild id, asker id), straight from the database."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(select(debates))).all()
    finally:
        await engine.dispose()
    return {row.question: (row.guild_id, row.user_id) for row in rows}


async def guild_rows(database_url: str, guild_id: int) -> dict[str, int]:
    """How many rows of each table belong to the server (replies through their debates)."""
    engine = make_engine(database_url)
    counts: dict[str, int] = {}
    try:
        async with engine.connect() as connection:
            for table in (guilds, personas, audit_log, token_usage, debates):
                result = await connection.execute(select(table).where(table.c.guild_id == guild_id))
                counts[table.name] = len(result.all())
            replies = await connection.execute(
                select(debate_replies)
                .join(debates, debates.c.id == debate_replies.c.debate_id)
                .where(debates.c.guild_id == guild_id)
            )
            counts["debate_replies"] = len(replies.all())
    finally:
        await engine.dispose()
    return counts


async def backdate(database_url: str, question: str, days: float) -> None:
    """Make the debate asking ``question`` look ``days`` days old."""
    engine = make_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(debates)
                .where(debates.c.question == question)
                .values(started_at=datetime.now(UTC) - timedelta(days=days))
            )
    finally:
        await engine.dispose()


async def audit_actions(database_url: str, guild_id: int) -> list[tuple[str, str]]:
    store = await Store.open(database_url)
    try:
        return [(entry.action, entry.summary) for entry in await store.audit_log(guild_id)]
    finally:
        await store.close()


async def eventually(read: Callable[[], Awaitable[T]], done: Callable[[T], bool], seconds: float = 10) -> T:
    """What ``read`` returns once ``done`` holds for it, read every 50 ms for up to ``seconds``."""
    for _ in range(int(seconds / 0.05)):
        value = await read()
        if done(value):
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"still not done after {seconds} s: {value!r}")


async def forget(fake: FakeDiscord, by: FakeMember, server: Server, whom: FakeMember) -> dict[str, Any]:
    """``/parley forget member:whom`` run by ``by``; the private answer."""
    interaction = await fake.invoke_command(
        "parley forget", guild=server.guild, member=by, options={"member": whom.id}
    )
    ack = await interaction.wait_for_ack()
    if ack.type == 5:
        return await settled_original(fake, interaction)
    assert ack.data is not None
    return ack.data


async def debate_in(fake: FakeDiscord, server: Server, question: str, *, by_member: bool = True) -> None:
    run_ = await run_debate_command(
        fake, question, guild=server.guild, member=server.member if by_member else server.owner
    )
    assert "✅ done in" in run_.status, run_.status


@pytest.mark.usefixtures("parley")
async def test_a_moderator_sets_and_clears_the_retention_and_a_member_is_refused(
    discord_fake: FakeDiscord, server: Server, database_url: str
) -> None:
    refused = await run(discord_fake, "parley retention", server.member, server.guild, days=30)
    assert refused["content"].startswith(REFUSAL)
    assert refused["flags"] & 64

    set_ = await run(discord_fake, "parley retention", server.owner, server.guild, days=30)
    assert set_["content"] == (
        "Debates started more than 30 days ago, and their answers, are now deleted here once a day."
    )
    assert set_["flags"] & 64
    cleared = await run(discord_fake, "parley retention", server.owner, server.guild, days=0)
    assert cleared["content"] == (
        "Debates are now kept here until a moderator deletes them (`/parley forget`)."
    )
    assert await audit_actions(database_url, server.guild.id) == [
        ("retention", "retention cleared: debates are kept"),
        ("retention", "retention set to 30 days"),
    ]
    (command,) = [c for c in discord_fake.global_commands if c["name"] == "parley"]
    (retention,) = [o for o in command["options"] if o["name"] == "retention"]
    (days,) = retention["options"]
    assert (days["min_value"], days["max_value"], days["required"]) == (0, 3650, True)


async def test_the_purge_task_deletes_debates_past_the_retention(
    discord_fake: FakeDiscord, gemini: FakeGemini, server: Server, other: Server, database_url: str
) -> None:
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url, purge_every_s=0.05):
        for question in ("Old news?", "Fresh news?", "Ancient history?"):
            await debate_in(discord_fake, server, question)
        await debate_in(discord_fake, other, "Old elsewhere?")
        for question, days in (("Old news?", 8), ("Ancient history?", 400), ("Old elsewhere?", 400)):
            await backdate(database_url, question, days)
        await run(discord_fake, "parley retention", server.owner, server.guild, days=7)
        await eventually(lambda: stored_debates(database_url), lambda stored: len(stored) == 2)
        await asyncio.sleep(0.2)  # a few more purges: nothing else goes
        assert await stored_debates(database_url) == {
            "Fresh news?": (server.guild.id, server.member.id),
            "Old elsewhere?": (other.guild.id, other.member.id),  # that server keeps its debates
        }
        assert (await guild_rows(database_url, server.guild.id))["debate_replies"] == 4


@pytest.mark.usefixtures("parley")
async def test_a_moderator_forgets_a_members_debates_and_only_theirs(
    discord_fake: FakeDiscord, server: Server, other: Server, database_url: str
) -> None:
    await debate_in(discord_fake, server, "Mine, first?")
    await debate_in(discord_fake, server, "Mine, second?")
    await debate_in(discord_fake, server, "The owner's?", by_member=False)
    await debate_in(discord_fake, other, "Elsewhere?")

    refused = await forget(discord_fake, server.member, server, server.member)
    assert refused["content"].startswith(REFUSAL)
    assert len(await stored_debates(database_url)) == 4

    answer = await forget(discord_fake, server.owner, server, server.member)
    assert answer["content"] == f"Deleted 2 debates <@{server.member.id}> started here."
    assert answer["flags"] & 64
    assert await stored_debates(database_url) == {
        "The owner's?": (server.guild.id, server.owner.id),
        "Elsewhere?": (other.guild.id, other.member.id),
    }
    assert (await guild_rows(database_url, server.guild.id))["debate_replies"] == 4
    actions = await audit_actions(database_url, server.guild.id)
    assert actions == [("forget", f"deleted 2 debates started by member {server.member.id}")]

    again = await forget(discord_fake, server.owner, server, server.member)
    assert again["content"] == f"Deleted 0 debates <@{server.member.id}> started here."


async def test_guild_delete_makes_parley_delete_everything_of_that_server(
    discord_fake: FakeDiscord, gemini: FakeGemini, server: Server, other: Server, database_url: str
) -> None:
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url) as bot:
        for each in (server, other):
            await run(discord_fake, "persona preset", each.owner, each.guild, name="ethics")
            await run(discord_fake, "parley cooldown", each.owner, each.guild, seconds=5)
            await debate_in(discord_fake, each, f"First in {each.guild.name}?")
            await debate_in(discord_fake, each, f"Second in {each.guild.name}?", by_member=False)
        before = await guild_rows(database_url, server.guild.id)
        assert all(before.values()), before  # something of every kind to delete
        other_before = await guild_rows(database_url, other.guild.id)

        discord_fake.remove_bot_from_guild(server.guild)
        await eventually(
            lambda: guild_rows(database_url, server.guild.id), lambda rows: not any(rows.values())
        )
        assert bot.get_guild(server.guild.id) is None
        assert await guild_rows(database_url, other.guild.id) == other_before
        assert set(await stored_debates(database_url)) == {
            "First in Product Team?",
            "Second in Product Team?",
        }
        assert (await bot.store.panel(server.guild.id)).is_default  # its cache forgot it too
