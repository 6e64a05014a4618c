"""``python -m bot`` in its own process, configured only by the contract's environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.limits import usage_day, utc_now
from bot.core.records import DebateStatus
from bot.store import Store
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    bot_environment,
    free_port,
    persona_calls,
    run_debate_command,
    scrape_metrics,
    settled_original,
    start_bot,
    stop_bot,
    verdict_calls,
)
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_gemini import FakeGemini, Reply

pytestmark = pytest.mark.e2e


async def test_python_m_bot_runs_a_debate_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    async with FakeGemini(api_key=GEMINI_KEY) as gemini, FakeDiscord(token=DISCORD_TOKEN) as discord:
        discord.add_guild("Subprocess Guild")
        gemini.script("You are Rebel Pilot,", Reply("Red Five, standing by.", latency=0.2))
        port = free_port()
        environment = bot_environment(
            discord, gemini, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", METRICS_PORT=str(port)
        )
        process = await start_bot(environment, tmp_path, log)
        try:
            run = await run_debate_command(discord, "Should the Rebellion have negotiated?")
            metrics = await scrape_metrics(port)
            assert metrics.value("parley_debates_total", outcome="finished", shard="0") == 1
            assert metrics.value("parley_persona_latency_seconds_count", shard="0") == 4
            assert metrics.value("parley_tokens_total") > 0
            assert run.interaction.ack_type == 5
            assert run.text_of("🚀 Rebel Pilot") == "Red Five, standing by."
            assert len(run.titled()) == 5
            assert len(persona_calls(gemini)) == 4
            assert len(verdict_calls(gemini)) == 1
            assert "✅ done in" in run.status
        finally:
            returncode = await stop_bot(process)
    output = log.read_text()
    assert returncode == 0, output
    assert "Traceback" not in output
    assert DISCORD_TOKEN not in output
    assert GEMINI_KEY not in output
    assert f"serving Prometheus metrics at http://0.0.0.0:{port}/metrics" in output


async def test_a_panel_and_its_audit_log_survive_a_process_restart(tmp_path: Path) -> None:
    async with FakeGemini(api_key=GEMINI_KEY) as gemini, FakeDiscord(token=DISCORD_TOKEN) as discord:
        guild = discord.add_guild("Restart Guild")
        owner = guild.members[guild.owner_id]
        environment = bot_environment(
            discord, gemini, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
        )

        first = await start_bot(environment, tmp_path, tmp_path / "first.log")
        try:
            added = await discord.invoke_command(
                "persona add",
                member=owner,
                options={"name": "Judge", "emoji": "⚖️", "instructions": "You rule on the law, impartially."},
            )
            assert (await added.wait_for_ack()).type == 5  # acknowledged before the write
            reply = await settled_original(discord, added)
            assert reply["content"].startswith("Added **⚖️ Judge**")
        finally:
            assert await stop_bot(first) == 0

        second = await start_bot(environment, tmp_path, tmp_path / "second.log")
        try:
            shown = await discord.invoke_command("panel")
            panel = (await shown.wait_for_ack()).data
            audit_call = await discord.invoke_command("parley audit", member=owner)
            audit = (await audit_call.wait_for_ack()).data
        finally:
            assert await stop_bot(second) == 0
    assert panel is not None
    assert audit is not None
    assert panel["embeds"][0]["fields"][-1]["name"] == "⚖️ Judge"
    assert audit["embeds"][0]["description"].endswith(f"<@{owner.id}> added ⚖️ Judge")


async def test_a_debate_killed_mid_way_is_closed_with_a_note_when_the_bot_comes_back(tmp_path: Path) -> None:
    database = tmp_path / "p.db"
    async with FakeGemini(api_key=GEMINI_KEY) as gemini, FakeDiscord(token=DISCORD_TOKEN) as discord:
        discord.add_guild("Crash Guild")
        gemini.script("You are Rebel Pilot,", Reply("Red Five, standing by.", latency=0.1))
        for slow in ("Imperial Officer", "Neutral Citizen", "Droid Analyst"):
            gemini.script(f"You are {slow},", Reply("Too late.", latency=60))
        environment = bot_environment(discord, gemini, DATABASE_URL=f"sqlite+aiosqlite:///{database}")

        first = await start_bot(environment, tmp_path, tmp_path / "first.log")
        try:
            interaction = await discord.invoke_command(
                "debate", options={"question": "Will the Alliance hold?"}
            )
            await discord.wait_for_request(
                lambda r: r.route == "POST /channels/{channel_id}/messages" and "Red Five" in str(r.json), 10
            )
        finally:
            first.kill()  # SIGKILL: no chance to clean up
            await first.wait()
        thread_id = interaction.original_message_id
        assert thread_id is not None

        second = await start_bot(environment, tmp_path, tmp_path / "second.log")
        try:
            note = await discord.wait_for_request(
                lambda r: r.path.endswith(f"/channels/{thread_id}/messages") and "interrupted" in str(r.json),
                15,
            )
            status = await discord.wait_for_request(
                lambda r: (
                    r.route == "PATCH /channels/{channel_id}/messages/{message_id}"
                    and r.path_params["message_id"] == str(thread_id)
                ),
                15,
            )
        finally:
            assert await stop_bot(second) == 0
    assert note.json["content"] == (
        "⚠️ This debate was interrupted: Parley restarted before it finished. 1 of 4 answers had arrived; "
        "they are kept above, and nothing else will follow."
    )
    assert note.json["allowed_mentions"] == {"parse": []}
    assert status.json["content"].endswith("❌ failed: interrupted (Parley restarted before it finished)")
    assert status.json["components"] == [], "an interrupted debate has no Stop button any more"
    store = await Store.open(f"sqlite+aiosqlite:///{database}")
    try:
        assert await store.debate_status(1) is DebateStatus.INTERRUPTED
        replies = await store.debate_replies(1)
        charged = await store.tokens_used(next(iter(discord.guilds)), usage_day(utc_now()))
        recorded = await store.debate_tokens(1)
    finally:
        await store.close()
    assert [(reply.persona, reply.text) for reply in replies] == [("Rebel Pilot", "Red Five, standing by.")]
    assert charged == recorded > 0, "what the interrupted debate used is charged when it is closed"
