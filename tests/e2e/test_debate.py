"""/debate end to end: the real bot, real discord.py and google-genai, against the loopback fakes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from bot.client import ParleyBot
from bot.core.personas import DEFAULT_PANEL
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    message_payloads,
    persona_calls,
    run_debate_command,
    running_parley,
    verdict_calls,
)
from tests.e2e.harness import (
    run as run_command,
)
from tests.fakes.fake_discord import FakeDiscord, Permission
from tests.fakes.fake_gemini import FakeGemini, Fault, Reply

pytestmark = pytest.mark.e2e

QUESTION = "Was the destruction of the Death Star justified?"
LABELS = [persona.label for persona in DEFAULT_PANEL]
REPLIES = {
    "Rebel Pilot": "Alderaan was reason enough. We flew so no other world would burn.",
    "Imperial Officer": "A million contractors died aboard. That was terrorism, not justice.",
    "Neutral Citizen": "Freight prices doubled overnight. Nobody asked us.",
    "Droid Analyst": "Ethically defensible at 73% confidence; strategically decisive.",
}
VERDICT = "On balance justified: the crux is whether a weapon of genocide makes its crew combatants."
THREAD_ROUTE = "POST /channels/{channel_id}/messages/{message_id}/threads"


def persona_system(name: str) -> str:
    return f"You are {name}, one voice"


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=GEMINI_KEY) as fake:
        for name, text in REPLIES.items():
            fake.script(persona_system(name), Reply(text))
        fake.script("You chair a structured debate", Reply(VERDICT, chunks=(VERDICT[:20], VERDICT[20:])))
        yield fake


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=DISCORD_TOKEN) as fake:
        fake.add_guild("Parley Test")
        yield fake


@pytest.fixture
async def parley(discord_fake: FakeDiscord, gemini: FakeGemini) -> AsyncIterator[ParleyBot]:
    async with running_parley(discord_fake, gemini) as bot:
        yield bot


@pytest.mark.usefixtures("parley")
async def test_a_debate_lands_in_a_thread_opened_from_the_status_message(
    discord_fake: FakeDiscord, gemini: FakeGemini
) -> None:
    run = await run_debate_command(discord_fake, QUESTION)

    ack = run.interaction.ack
    assert ack is not None
    assert ack.type == 5
    assert not (ack.data or {}).get("flags", 0) & 64, "the deferral is public"
    assert ack.t - run.interaction.created_at < 3

    (thread_request,) = run.requests(lambda r: r.route == THREAD_ROUTE)
    assert thread_request.status == 201
    assert thread_request.path_params["message_id"] == str(run.interaction.original_message_id)
    assert thread_request.json["name"] == QUESTION
    assert discord_fake.threads[run.thread_id]["type"] == 11  # public thread

    titles = run.titled()
    assert sorted(titles[:4]) == sorted(LABELS)
    assert titles[4:] == ["⚖️ Verdict"]
    for persona in DEFAULT_PANEL:
        assert run.text_of(persona.label) == REPLIES[persona.name]
        (embed,) = [e for e in run.thread_embeds if e.get("title") == persona.label]
        assert embed["color"] == persona.colour
    assert run.text_of("⚖️ Verdict") == VERDICT
    verdict_embed = run.thread_embeds[-1]
    assert "speed-up" in verdict_embed["footer"]["text"]

    (verdict_call,) = verdict_calls(gemini)
    assert verdict_call.method == "streamGenerateContent"
    for persona in DEFAULT_PANEL:
        assert f"<reply>\n{REPLIES[persona.name]}\n</reply>" in verdict_call.user_text
        assert persona.name not in verdict_call.user_text  # the judge reads them anonymised
    assert {call.system_text.split(",")[0] for call in persona_calls(gemini)} == {
        f"You are {name}" for name in REPLIES
    }

    assert run.status.startswith(f"**Debate:** {QUESTION}\n**Panel:** " + " · ".join(LABELS))
    assert run.status.splitlines()[-1].startswith("✅ done in ")


@pytest.mark.usefixtures("parley")
async def test_personas_run_at_once_and_each_is_posted_as_it_lands(
    discord_fake: FakeDiscord, gemini: FakeGemini
) -> None:
    for latency, (name, text) in zip((0.2, 0.4, 0.6, 0.8), REPLIES.items(), strict=True):
        gemini.script(persona_system(name), Reply(text, latency=latency))
    run = await run_debate_command(discord_fake, QUESTION)

    calls = persona_calls(gemini)
    assert len(calls) == 4
    first_return = min(call.t_responded for call in calls if call.t_responded is not None)
    slowest_return = max(call.t_responded for call in calls if call.t_responded is not None)
    assert all(call.t_received < first_return for call in calls), (
        "every call reached Gemini before any returned"
    )
    first_post = min(request.t for request in run.thread_posts())
    assert first_post < slowest_return, "the first persona was posted while the slowest was still thinking"
    titles = run.titled()
    assert titles == [persona.label for persona in DEFAULT_PANEL] + ["⚖️ Verdict"], (
        "posted in completion order"
    )


@pytest.mark.usefixtures("parley")
async def test_a_persona_failing_every_attempt_is_retried_and_named(
    discord_fake: FakeDiscord, gemini: FakeGemini
) -> None:
    gemini.script(persona_system("Imperial Officer"), Fault.unavailable())
    run = await run_debate_command(discord_fake, QUESTION)

    imperial_calls = [call for call in persona_calls(gemini) if "Imperial Officer" in call.system_text]
    assert len(imperial_calls) >= 2
    assert {call.status for call in imperial_calls} == {503}
    assert run.text_of("🛡️ Imperial Officer") == "⚠️ No answer: Gemini is overloaded."
    for persona in DEFAULT_PANEL:
        if persona.name != "Imperial Officer":
            assert run.text_of(persona.label) == REPLIES[persona.name]
    (verdict_call,) = verdict_calls(gemini)
    assert "The panel's final answers (3):" in verdict_call.user_text
    assert REPLIES["Imperial Officer"] not in verdict_call.user_text
    assert re.search(r"Not heard \(no answer\): Persona [A-D]\.", verdict_call.user_text)
    assert run.text_of("⚖️ Verdict") == VERDICT
    assert "✅ done in" in run.status


@pytest.mark.usefixtures("parley")
async def test_when_every_persona_fails_the_status_says_so_and_no_verdict_is_asked(
    discord_fake: FakeDiscord, gemini: FakeGemini
) -> None:
    for name in REPLIES:
        gemini.script(persona_system(name), Fault.quota_exhausted_today())
    run = await run_debate_command(discord_fake, QUESTION)

    assert verdict_calls(gemini) == []
    assert run.status.splitlines()[-1] == "❌ failed: no persona answered (quota exhausted for today)"
    assert "⚖️ Verdict" not in run.titled()
    assert run.text_of("🚀 Rebel Pilot") == "⚠️ No answer: quota exhausted for today."


@pytest.mark.usefixtures("parley")
async def test_a_ten_thousand_character_reply_lands_whole(
    discord_fake: FakeDiscord, gemini: FakeGemini
) -> None:
    # The verdict has the room for it (2,500 tokens); a persona's answer budget is 1,024 tokens.
    long_reply = ("Red Five standing by. " * 500)[:10_000]
    gemini.script("You chair a structured debate", Reply(long_reply))
    run = await run_debate_command(discord_fake, QUESTION)

    assert run.text_of("⚖️ Verdict") == long_reply
    verdict_parts = [e for e in run.thread_embeds if e.get("title") == "⚖️ Verdict"]
    assert len(verdict_parts) == 1
    assert len([e for e in run.thread_embeds if not e.get("title")]) >= 2
    assert all(request.status < 300 for request in run.requests()), [
        (request.route, request.status, request.response)
        for request in run.requests()
        if request.status >= 300
    ]


@pytest.mark.usefixtures("parley")
async def test_mentions_in_the_question_and_replies_ping_nobody(
    discord_fake: FakeDiscord, gemini: FakeGemini
) -> None:
    guild = next(iter(discord_fake.guilds.values()))
    role = discord_fake.add_role(guild, name="Mods")
    member = next(iter(guild.members.values()))
    pings = f"@everyone <@&{role.id}> <@{member.user.id}> @here"
    gemini.script(persona_system("Rebel Pilot"), Reply(f"Listen up {pings}!"))
    run = await run_debate_command(discord_fake, f"{pings} is this justified?")

    payloads = message_payloads(discord_fake)
    assert len(run.thread_posts()) >= 2  # the personas, then the verdict
    assert len(payloads) >= len(run.thread_posts()) + 2  # and the status line, shown then finished
    for payload in payloads:
        assert payload.get("allowed_mentions", {}).get("parse") == [], payload
        assert not payload["allowed_mentions"].get("users")
        assert not payload["allowed_mentions"].get("roles")
    assert discord_fake.pings == []
    assert "@everyone" not in run.status
    assert f"Listen up {pings}!" == run.text_of("🚀 Rebel Pilot")
    for name in ("@everyone", f"<@&{role.id}> Judge", f"<@{member.user.id}>"):
        refused = await run_command(
            discord_fake, "persona add", member, guild, name=name, emoji="⚖️", instructions="You judge fairly."
        )
        assert refused["content"].startswith("The name can't contain"), refused["content"]
        assert refused["allowed_mentions"] == {"parse": []}
    assert discord_fake.pings == []
    assert discord_fake.threads[run.thread_id]["name"] == "everyone here is this justified?"


@pytest.mark.usefixtures("parley")
async def test_a_blank_question_is_refused_privately_before_anything_runs(
    discord_fake: FakeDiscord, gemini: FakeGemini
) -> None:
    interaction = await discord_fake.invoke_command("debate", options={"question": "   "})
    ack = await interaction.wait_for_ack(timeout=5)
    assert ack.type == 4
    assert ack.data is not None
    assert ack.data["flags"] & 64
    assert ack.data["content"] == "The question is empty: ask the panel something."
    assert gemini.calls == []
    assert discord_fake.threads == {}


@pytest.mark.usefixtures("parley")
async def test_without_thread_permission_the_debate_runs_in_the_channel(
    discord_fake: FakeDiscord, gemini: FakeGemini
) -> None:
    guild = next(iter(discord_fake.guilds.values()))
    discord_fake.set_bot_permissions(guild.text_channel.id, deny=Permission.CREATE_PUBLIC_THREADS)
    run = await run_debate_command(discord_fake, QUESTION)
    assert run.interaction.ack_type == 5
    assert discord_fake.threads == {}
    messages = discord_fake.channel_messages(guild.text_channel.id)
    assert messages[0]["id"] == str(run.interaction.original_message_id), "the status message comes first"
    titles = [embed["title"] for message in messages[1:] for embed in message["embeds"] if embed.get("title")]
    assert sorted(titles[:4]) == sorted(LABELS)
    assert titles[4:] == ["⚖️ Verdict"]
    assert "✅ done in" in run.status


@pytest.mark.usefixtures("parley")
async def test_with_no_way_to_post_the_debate_is_refused_privately_naming_the_permissions(
    discord_fake: FakeDiscord, gemini: FakeGemini
) -> None:
    guild = next(iter(discord_fake.guilds.values()))
    discord_fake.set_bot_permissions(
        guild.text_channel.id, deny=Permission.CREATE_PUBLIC_THREADS | Permission.SEND_MESSAGES
    )
    interaction = await discord_fake.invoke_command("debate", options={"question": QUESTION})
    ack = await interaction.wait_for_ack(timeout=5)
    assert ack.type == 4
    assert ack.data is not None
    assert ack.data["flags"] & 64
    assert "**Send Messages**" in ack.data["content"]
    assert gemini.calls == []


@pytest.mark.usefixtures("parley")
async def test_a_thread_creation_refused_by_discord_falls_back_to_the_channel(
    discord_fake: FakeDiscord,
) -> None:
    guild = next(iter(discord_fake.guilds.values()))
    discord_fake.fail_next(THREAD_ROUTE, 403, {"message": "Missing Permissions", "code": 50013})
    run = await run_debate_command(discord_fake, QUESTION)
    assert "✅ done in" in run.status
    (refused,) = run.requests(lambda r: r.route == THREAD_ROUTE)
    assert (refused.status, refused.response["code"]) == (403, 50013)
    posts = run.requests(lambda r: r.route == "POST /channels/{channel_id}/messages")
    assert {post.path_params["channel_id"] for post in posts} == {str(guild.text_channel.id)}
    titles = [e["title"] for post in posts for e in post.json["embeds"] if e.get("title")]
    assert sorted(titles) == sorted([*LABELS, "⚖️ Verdict"])


@pytest.mark.usefixtures("parley")
async def test_when_discord_refuses_both_thread_and_channel_the_member_is_told_without_a_storm_of_403s(
    discord_fake: FakeDiscord,
) -> None:
    discord_fake.fail_next(THREAD_ROUTE, 403, {"message": "Missing Permissions", "code": 50013})
    discord_fake.fail_next(
        "POST /channels/{channel_id}/messages", 403, {"message": "Missing Permissions", "code": 50013}
    )
    run = await run_debate_command(discord_fake, QUESTION)
    assert run.status.splitlines()[-1] == "❌ failed: interrupted by an error"
    followup = await discord_fake.wait_for_request(
        lambda r: r.route == "POST /webhooks/{webhook_id}/{webhook_token}" and r.status < 300
    )
    assert followup.json["flags"] & 64
    assert "**Send Messages**" in followup.json["content"]
    refused = run.requests(lambda r: r.status == 403)
    assert [r.route for r in refused] == [THREAD_ROUTE, "POST /channels/{channel_id}/messages"]
    assert len(run.requests(lambda r: r.route == "POST /channels/{channel_id}/messages")) == 1


@pytest.mark.usefixtures("parley")
async def test_an_unexpected_error_gets_a_reference_id(
    discord_fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    discord_fake.fail_next(THREAD_ROUTE, 400, {"message": "Something odd", "code": 50035, "errors": {}})
    await run_debate_command(discord_fake, QUESTION)
    followup = await discord_fake.wait_for_request(
        lambda r: r.route == "POST /webhooks/{webhook_id}/{webhook_token}" and r.status < 300
    )
    content = followup.json["content"]
    assert "Something went wrong on my side (ref `" in content
    reference = content.split("`")[1]
    assert any(reference in record.getMessage() and record.exc_info for record in caplog.records)


async def test_commands_are_registered_and_only_resynced_when_changed(
    discord_fake: FakeDiscord, gemini: FakeGemini
) -> None:
    async with running_parley(discord_fake, gemini):
        pass
    commands = {command["name"]: command for command in discord_fake.commands()}
    assert set(commands) == {"debate", "debates", "panel", "persona", "parley"}
    debate = commands["debate"]
    question, preset, rounds = debate["options"]
    assert (question["name"], question["type"], question["required"]) == ("question", 3, True)
    assert (rounds["name"], rounds["type"], rounds.get("required", False)) == ("rounds", 4, False)
    assert (rounds["min_value"], rounds["max_value"]) == (1, 3)
    assert (question["min_length"], question["max_length"]) == (1, 1000)
    assert (preset["name"], preset.get("required", False)) == ("preset", False)
    assert [choice["value"] for choice in preset["choices"]] == [
        "starwars",
        "stakeholders",
        "ethics",
        "brainstorm",
    ]
    assert debate["contexts"] == [0]
    for group in ("persona", "parley"):
        assert commands[group]["default_member_permissions"] == str(1 << 5)  # Manage Server
        assert commands[group]["contexts"] == [0]
    debates = commands["debates"]  # for everyone: each member sees the debates they may see
    assert (debates.get("default_member_permissions"), debates["contexts"]) == (None, [0])
    history, transcript = debates["options"]
    assert (history["name"], history["type"], history.get("options", [])) == ("history", 1, [])
    (debate_option,) = transcript["options"]
    assert (transcript["name"], debate_option["name"], debate_option["type"]) == ("transcript", "debate", 4)
    assert (debate_option["autocomplete"], debate_option["required"]) == (True, True)
    assert [option["name"] for option in commands["persona"]["options"]] == [
        "add",
        "edit",
        "grounded",
        "remove",
        "reset",
        "preset",
        "export",
        "import",
    ]
    puts = [r for r in discord_fake.requests if r.route == "PUT /applications/{application_id}/commands"]
    assert len(puts) == 1

    async with running_parley(discord_fake, gemini):
        pass
    puts = [r for r in discord_fake.requests if r.route == "PUT /applications/{application_id}/commands"]
    assert len(puts) == 1, "an unchanged command set is not synced again"

    guild = next(iter(discord_fake.guilds.values()))
    async with running_parley(discord_fake, gemini, DEV_GUILD_ID=str(guild.id)):
        pass
    assert {command["name"] for command in discord_fake.commands(guild.id)} == set(commands)
