"""Faults and abuse end to end: where debates go, rate limits, expired tokens, limits, shutdown."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.personas import DEFAULT_PANEL
from bot.core.records import DebateStatus
from bot.store import Store
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    final_status,
    free_port,
    persona_calls,
    recorded_debate,
    run,
    run_debate_command,
    running_parley,
    scrape_metrics,
    settled_original,
)
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_gemini import FakeGemini, Reply

pytestmark = pytest.mark.e2e

QUESTION = "Should the Senate have been dissolved?"
LABELS = [persona.label for persona in DEFAULT_PANEL]
RELATIVE_TIME = re.compile(r"<t:(\d+):R>")


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=GEMINI_KEY) as fake:
        for persona in DEFAULT_PANEL:
            fake.script(f"You are {persona.name},", Reply(f"{persona.name} has spoken."))
        yield fake


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=DISCORD_TOKEN) as fake:
        fake.add_guild("Galactic Senate")
        yield fake


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}"


async def test_used_inside_a_thread_the_debate_stays_in_that_thread(
    discord_fake: FakeDiscord, gemini: FakeGemini
) -> None:
    guild = next(iter(discord_fake.guilds.values()))
    thread = discord_fake.add_thread(guild.text_channel, "ongoing discussion")
    async with running_parley(discord_fake, gemini):
        run_ = await run_debate_command(discord_fake, QUESTION, channel=thread)
    assert "✅ done in" in run_.status
    assert discord_fake.threads.keys() == {thread.id}, "no new thread"
    messages = discord_fake.channel_messages(thread.id)
    assert messages[0]["id"] == str(run_.interaction.original_message_id)
    titles = [embed["title"] for message in messages[1:] for embed in message["embeds"] if embed.get("title")]
    assert sorted(titles) == sorted([*LABELS, "⚖️ Verdict"])


async def test_in_a_voice_channels_chat_the_debate_runs_in_the_channel(
    discord_fake: FakeDiscord, gemini: FakeGemini
) -> None:
    guild = next(iter(discord_fake.guilds.values()))
    voice = discord_fake.add_channel(guild, "Stage Talk", type=2)
    async with running_parley(discord_fake, gemini):
        run_ = await run_debate_command(discord_fake, QUESTION, channel=voice)
    assert "✅ done in" in run_.status
    assert discord_fake.threads == {}
    titles = [
        embed["title"]
        for message in discord_fake.channel_messages(voice.id)[1:]
        for embed in message["embeds"]
        if embed.get("title")
    ]
    assert sorted(titles) == sorted([*LABELS, "⚖️ Verdict"])


async def test_a_burst_of_429s_is_waited_out_and_no_message_is_lost(
    discord_fake: FakeDiscord, gemini: FakeGemini, database_url: str
) -> None:
    discord_fake.fail_next("POST /channels/{channel_id}/messages", 429, {"retry_after": 0.3}, count=3)
    port = free_port()
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url, METRICS_PORT=str(port)):
        run_ = await run_debate_command(discord_fake, QUESTION)
        metrics = await scrape_metrics(port)
    # every 429 is counted, on the shard of the channel's guild (its sender's)
    assert metrics.value("parley_discord_rate_limited_total", shard="0") == 3
    record = await recorded_debate(database_url, QUESTION)
    assert record.status == "done"
    assert record.replies == {
        persona.name: (f"{persona.name} has spoken.", None) for persona in DEFAULT_PANEL
    }
    limited = run_.requests(lambda r: r.status == 429)
    assert len(limited) == 3
    assert all(r.response["retry_after"] == 0.3 for r in limited)
    assert sorted(run_.titled()) == sorted([*LABELS, "⚖️ Verdict"])
    for persona in DEFAULT_PANEL:
        assert run_.text_of(persona.label) == f"{persona.name} has spoken."
    assert "✅ done in" in run_.status


async def test_after_the_interaction_token_expires_the_status_is_edited_as_a_channel_message(
    gemini: FakeGemini, database_url: str
) -> None:
    for persona in DEFAULT_PANEL:
        gemini.script(f"You are {persona.name},", Reply(f"{persona.name} has spoken.", latency=1.5))
    async with FakeDiscord(token=DISCORD_TOKEN, token_lifetime_s=1.0) as discord_fake:
        discord_fake.add_guild("Galactic Senate")
        async with running_parley(discord_fake, gemini, DATABASE_URL=database_url):
            run_ = await run_debate_command(discord_fake, QUESTION)
    assert (await recorded_debate(database_url, QUESTION)).status == "done"
    expired = run_.requests(lambda r: r.status == 401)
    assert expired
    assert {r.route for r in expired} == {"PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original"}
    assert all(r.response["code"] == 50027 for r in expired)
    by_channel = run_.requests(
        lambda r: r.route == "PATCH /channels/{channel_id}/messages/{message_id}" and r.status == 200
    )
    assert by_channel
    assert by_channel[-1].path_params["message_id"] == str(run_.interaction.original_message_id)
    assert "✅ done in" in run_.status
    assert sorted(run_.titled()) == sorted([*LABELS, "⚖️ Verdict"])


async def test_a_second_debate_inside_the_cooldown_is_refused_with_the_wait(
    discord_fake: FakeDiscord, gemini: FakeGemini
) -> None:
    guild = next(iter(discord_fake.guilds.values()))
    member = discord_fake.add_member(guild, "chatty")
    async with running_parley(discord_fake, gemini):
        set_ = await run(discord_fake, "parley cooldown", guild.members[guild.owner_id], guild, seconds=120)
        assert set_["content"] == "Members now wait 120 s between two debates they start."
        started = time.time()
        first = await run_debate_command(discord_fake, QUESTION, member=member)
        assert "✅ done in" in first.status
        second = await run(discord_fake, "debate", member, guild, question="And again?")
        other = await run_debate_command(discord_fake, QUESTION, member=guild.members[guild.owner_id])
        # The owner (Manage Server) moderates: the cooldown keeps members from flooding, not moderators.
        again = await run_debate_command(discord_fake, "Once more?", member=guild.members[guild.owner_id])
    assert second["ack_type"] == 4
    assert second["flags"] & 64
    assert second["content"].startswith("Slow down: you can start another debate <t:")
    (until,) = RELATIVE_TIME.findall(second["content"])
    assert int(started) + 119 <= int(until) <= int(time.time()) + 121, "120 s after the first debate started"
    assert "✅ done in" in other.status, "the cooldown is per member"
    assert "✅ done in" in again.status, "moderators are not held to the cooldown"


async def test_a_server_over_its_budget_is_refused_until_midnight_utc(
    discord_fake: FakeDiscord, gemini: FakeGemini
) -> None:
    guild = next(iter(discord_fake.guilds.values()))
    owner = guild.members[guild.owner_id]
    async with running_parley(discord_fake, gemini):
        await run(discord_fake, "parley budget", owner, guild, tokens=50)
        spent = await run_debate_command(discord_fake, QUESTION)
        assert "✅ done in" in spent.status
        refused = await run(discord_fake, "debate", owner, guild, question="Once more?")
        usage = await run(discord_fake, "parley usage", owner, guild)
    assert refused["ack_type"] == 4
    assert refused["flags"] & 64
    assert re.fullmatch(
        r"This server has used its daily Gemini budget \(\d[\d,]* of 50 tokens\)\. It resets <t:\d+:R>\.",
        refused["content"],
    ), refused["content"]
    (reset,) = RELATIVE_TIME.findall(refused["content"])
    assert int(reset) % 86_400 == 0, "midnight UTC"
    fields = {field["name"]: field["value"] for field in usage["embeds"][0]["fields"]}
    assert fields["Gemini tokens"].endswith(" of 50")
    assert int(fields["Gemini tokens"].split(" of ")[0].replace(",", "")) > 50
    assert fields["Debates running"] == "0 of at most 50"


async def test_twenty_at_once_with_max_debates_five_runs_five_and_refuses_fifteen(
    discord_fake: FakeDiscord, gemini: FakeGemini
) -> None:
    for persona in DEFAULT_PANEL:
        gemini.script(f"You are {persona.name},", Reply(f"{persona.name} has spoken.", latency=0.8))
    guild = next(iter(discord_fake.guilds.values()))
    owner = guild.members[guild.owner_id]
    members = [discord_fake.add_member(guild, f"member-{n}") for n in range(20)]
    async with running_parley(discord_fake, gemini):
        await run(discord_fake, "parley max-debates", owner, guild, count=5)
        interactions = await asyncio.gather(
            *(
                discord_fake.invoke_command("debate", member=member, options={"question": f"Question {n}?"})
                for n, member in enumerate(members)
            )
        )
        acks = await asyncio.gather(*(interaction.wait_for_ack() for interaction in interactions))
        ran = [i for i, ack in zip(interactions, acks, strict=True) if ack.type == 5]
        refused = [ack for ack in acks if ack.type == 4]
        finals = await asyncio.wait_for(asyncio.gather(*(final_status(discord_fake, i) for i in ran)), 30)
    assert len(ran) == 5
    assert len(refused) == 15
    for ack in refused:
        assert ack.data is not None
        assert ack.data["flags"] & 64
        assert ack.data["content"].startswith(
            "This server already has 5 debates running, its limit. Try again <t:"
        )
    assert all("✅ done in" in final for final in finals)
    assert len(persona_calls(gemini)) == 5 * 4


async def test_on_shutdown_running_debates_finish_and_new_ones_are_refused(
    discord_fake: FakeDiscord, gemini: FakeGemini, database_url: str
) -> None:
    for persona in DEFAULT_PANEL:
        gemini.script(f"You are {persona.name},", Reply(f"{persona.name} has spoken.", latency=1.0))
    guild = next(iter(discord_fake.guilds.values()))
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url, SHUTDOWN_GRACE_S="20") as bot:
        running = await discord_fake.invoke_command("debate", options={"question": QUESTION})
        assert (await running.wait_for_ack()).type == 5
        stopping = asyncio.create_task(bot.shutdown())
        await asyncio.sleep(0.1)
        late = await run(
            discord_fake, "debate", discord_fake.add_member(guild, "late"), guild, question="Now?"
        )
        await asyncio.wait_for(stopping, 20)
        assert bot.is_closed()
    assert late["content"] == "Parley is restarting and not starting new debates; try again in a minute."
    final = await settled_original(discord_fake, running)
    assert "✅ done in" in final["content"]


async def test_debates_still_running_after_the_grace_period_are_closed_with_a_note(
    discord_fake: FakeDiscord, gemini: FakeGemini, database_url: str
) -> None:
    gemini.script("You are Rebel Pilot,", Reply("Red Five, standing by.", latency=0.1))
    gemini.script("You are Droid Analyst,", Reply("Calculating…", latency=30))
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url, SHUTDOWN_GRACE_S="1") as bot:
        interaction = await discord_fake.invoke_command("debate", options={"question": QUESTION})
        await discord_fake.wait_for_request(lambda r: r.route.endswith("/threads") and r.status == 201)
        await discord_fake.wait_for_request(
            lambda r: r.route == "POST /channels/{channel_id}/messages" and "Red Five" in str(r.json)
        )
        await bot.shutdown()
    thread_id = interaction.original_message_id
    assert thread_id is not None
    messages = discord_fake.channel_messages(thread_id)
    assert messages[-1]["content"].startswith(
        "⚠️ This debate was interrupted: Parley was shut down before it finished. "
    )
    assert "of 4 answers had arrived" in messages[-1]["content"]
    status = interaction.original_message
    assert status is not None
    assert status["content"].endswith("❌ failed: interrupted (Parley was shut down before it finished)")
    store = await Store.open(database_url)
    try:
        assert await store.unfinished_debates() == []
        replies = await store.debate_replies(1)
        assert await store.debate_status(1) is DebateStatus.INTERRUPTED
    finally:
        await store.close()
    assert [reply.persona for reply in replies if reply.text][:1] == ["Rebel Pilot"]
    assert all(reply.persona != "Droid Analyst" for reply in replies)
