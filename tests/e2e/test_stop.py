"""The Stop button on a debate's status message: who may press it, what a stop cancels and keeps, and
what a press gets once the debate is over (a restart included)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.core.limits import usage_day, utc_now
from bot.core.personas import DEFAULT_PANEL
from bot.core.records import DebateStatus
from bot.store import Store
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    bot_environment,
    final_status,
    message_payloads,
    persona_calls,
    recorded_debate,
    run,
    running_parley,
    start_bot,
    stop_bot,
    verdict_calls,
)
from tests.fakes.fake_discord import FakeDiscord, FakeGuild, FakeInteraction, FakeMember, Permission
from tests.fakes.fake_gemini import FakeGemini, GeminiCall, Outcome, Reply

pytestmark = pytest.mark.e2e

QUESTION = "Should the Jedi have trusted the Chancellor?"
QUICK = "Rebel Pilot"
QUICK_REPLY = "Red Five: never trust a man who wants emergency powers."
SLOW_S = 3.0
"""How long the other personas take: a stop lands while they think."""
VERDICT = "The council should have read the fine print."
ASKER_NICK = "Obi_Wan *Ben*"
ASKER_SHOWN = "Obi\\_Wan \\*Ben\\*"
MESSAGES_ROUTE = "POST /channels/{channel_id}/messages"
JSON = dict[str, Any]


@dataclass
class Council:
    guild: FakeGuild
    asker: FakeMember
    bystander: FakeMember
    moderator: FakeMember
    mods_role: int


def answers(call: GeminiCall) -> Outcome:
    """The quick persona answers at once, the others after ``SLOW_S``; the verdict names its debate."""
    tag = "[D2]" if "[D2]" in call.user_text else "[D1]"
    if call.model.endswith("flash"):  # the verdict model
        return Reply(f"{tag} {VERDICT}", latency=0.2)
    if call.system_text.startswith(f"You are {QUICK},"):
        return Reply(f"{tag} {QUICK_REPLY}", latency=0.1)
    return Reply(f"{tag} Answered after a long think.", latency=SLOW_S)


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=GEMINI_KEY, responder=answers) as fake:
        yield fake


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=DISCORD_TOKEN) as fake:
        yield fake


@pytest.fixture
def council(discord_fake: FakeDiscord) -> Council:
    guild = discord_fake.add_guild("Jedi Council")
    mods = discord_fake.add_role(guild, "Council Masters")
    return Council(
        guild,
        discord_fake.add_member(guild, "kenobi", nick=ASKER_NICK),
        discord_fake.add_member(guild, "jarjar"),
        discord_fake.add_member(guild, "windu", roles=[mods.id]),
        mods.id,
    )


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}"


async def stop_button(discord: FakeDiscord, interaction: FakeInteraction) -> JSON:
    """The button on a debate's status message, once the status shows it."""
    async with asyncio.timeout(10):
        while True:
            changed = discord.messages_changed()
            message = interaction.original_message
            if message is not None and message.get("components"):
                (row,) = message["components"]
                (button,) = row["components"]
                return dict(button)
            await changed.wait()


async def press_stop(discord: FakeDiscord, debate: FakeInteraction, member: FakeMember) -> FakeInteraction:
    """``member`` presses the Stop button of ``debate``'s status message."""
    button = await stop_button(discord, debate)
    assert debate.original_message_id is not None
    return await discord.invoke_component(debate.original_message_id, button["custom_id"], member=member)


async def refusal(pressed: FakeInteraction) -> str:
    """The private answer to a press that changed nothing."""
    ack = await pressed.wait_for_ack()
    assert ack.type == 4, ack
    assert ack.data is not None
    assert ack.data["flags"] & 64, "only the member who pressed sees it"
    assert ack.data["allowed_mentions"] == {"parse": []}
    return str(ack.data["content"])


async def posted(discord: FakeDiscord, channel_id: int, text: str) -> None:
    """Wait until a message holding ``text`` was accepted in ``channel_id``."""
    await discord.wait_for_request(
        lambda r: (
            r.route == MESSAGES_ROUTE
            and r.path_params.get("channel_id") == str(channel_id)
            and r.status < 300
            and text in str(r.json)
        ),
        10,
    )


async def located(database_url: str) -> None:
    """Wait until the running debate's status message is recorded (recovery edits it from there); the
    bot runs in another process, so the database is polled."""
    store = await Store.open(database_url)
    try:
        async with asyncio.timeout(10):
            while True:
                if any(debate.status_message_id for debate in await store.unfinished_debates()):
                    return
                await asyncio.sleep(0.05)
    finally:
        await store.close()


async def test_the_status_message_offers_stop_but_only_the_asker_or_a_moderator_may_press_it(
    discord_fake: FakeDiscord, gemini: FakeGemini, council: Council, database_url: str
) -> None:
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url):
        debate = await discord_fake.invoke_command(
            "debate", member=council.asker, options={"question": QUESTION}
        )
        button = await stop_button(discord_fake, debate)
        # The moderator role is not set yet: holding it means nothing.
        refused = [
            await refusal(await press_stop(discord_fake, debate, member))
            for member in (council.bystander, council.moderator)
        ]
        async with asyncio.timeout(30):
            final = await final_status(discord_fake, debate)
    assert button == {
        "type": 2,
        "id": button["id"],
        "style": 4,
        "label": "Stop",
        "emoji": {"id": None, "name": "⏹️"},
        "custom_id": "parley:stop:1",
        "disabled": False,
    }
    assert refused == ["Only the member who asked or a moderator can stop this debate."] * 2
    assert "✅ done in" in final, "a refused press changes nothing: the debate goes on to its verdict"
    assert debate.original_message is not None
    assert debate.original_message["components"] == [], "the button goes when the debate ends"
    assert (await recorded_debate(database_url, QUESTION)).status == "done"
    assert len(verdict_calls(gemini)) == 1


async def test_the_asker_stops_mid_debate_what_arrived_is_kept_and_charged_and_nothing_else_is_asked(
    discord_fake: FakeDiscord, gemini: FakeGemini, council: Council, database_url: str
) -> None:
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url):
        started = time.monotonic()
        debate = await discord_fake.invoke_command(
            "debate", member=council.asker, options={"question": QUESTION}
        )
        await debate.wait_for_ack()
        thread_id = debate.original_message_id  # a thread opened from a message shares its id
        assert thread_id is not None
        await posted(discord_fake, thread_id, QUICK_REPLY)
        pressed = await press_stop(discord_fake, debate, council.asker)
        again = await press_stop(discord_fake, debate, council.asker)  # a double click
        ack = await pressed.wait_for_ack()
        in_flight = [call for call in persona_calls(gemini) if call.t_responded is None]
        second = await refusal(again)
        async with asyncio.timeout(10):
            final = await final_status(discord_fake, debate)
        # Long enough for the personas in flight to have answered, and the verdict to have been asked for,
        # had the stop not cancelled them.
        await asyncio.sleep(max(0.0, started + SLOW_S + 1.0 - time.monotonic()))
        store_url = database_url
    assert ack.type == 6, "answered at once with a deferred update: the status message says the rest"
    assert ack.t - pressed.created_at < 3
    assert second == "This debate is already being stopped."

    assert len(in_flight) == len(DEFAULT_PANEL) - 1, "three personas were still thinking"
    assert all(call.t_received < ack.t for call in gemini.calls), "no Gemini call starts after the press"
    assert verdict_calls(gemini) == []
    assert all(call.t_responded is None for call in in_flight), "the calls in flight were cancelled"

    assert final.endswith(f"\n⏹️ stopped by {ASKER_SHOWN}")
    assert debate.original_message is not None
    assert debate.original_message["components"] == []
    thread = discord_fake.channel_messages(thread_id)
    titles = [
        embed["title"] for message in thread for embed in message.get("embeds", []) if embed.get("title")
    ]
    assert titles == [DEFAULT_PANEL[0].label]
    assert thread[-1]["content"] == (
        f"⏹️ Stopped by {ASKER_SHOWN}. 1 of 4 answers had arrived; they are kept above."
    )
    assert all(payload["allowed_mentions"] == {"parse": []} for payload in message_payloads(discord_fake))

    record = await recorded_debate(store_url, QUESTION)
    assert record.status == DebateStatus.STOPPED.value == "stopped"
    assert record.outcome == f"stopped by {ASKER_NICK} ({council.asker.id})"
    assert record.replies == {QUICK: (f"[D1] {QUICK_REPLY}", None)}
    (quick_call,) = [call for call in persona_calls(gemini) if call.t_responded is not None]
    assert quick_call.usage is not None
    used = quick_call.usage.prompt + quick_call.usage.candidates + quick_call.usage.thoughts
    store = await Store.open(store_url)
    try:
        charged = await store.tokens_used(council.guild.id, usage_day(utc_now()))
    finally:
        await store.close()
    assert charged == used > 0, "the tokens of the answer that arrived are charged"


async def test_a_moderator_may_stop_someone_elses_debate(
    discord_fake: FakeDiscord, gemini: FakeGemini, council: Council, database_url: str
) -> None:
    owner = council.guild.members[council.guild.owner_id]
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url):
        await run(discord_fake, "parley moderator-role", owner, council.guild, role=council.mods_role)
        debate = await discord_fake.invoke_command(
            "debate", member=council.bystander, options={"question": QUESTION}
        )
        pressed = await press_stop(discord_fake, debate, council.moderator)
        assert (await pressed.wait_for_ack()).type == 6
        async with asyncio.timeout(10):
            final = await final_status(discord_fake, debate)
    assert final.endswith("\n⏹️ stopped by Windu")
    record = await recorded_debate(database_url, QUESTION)
    assert record.status == "stopped"
    assert record.outcome == f"stopped by Windu ({council.moderator.id})"
    assert verdict_calls(gemini) == []


async def test_stopping_one_of_two_debates_in_a_channel_leaves_the_other_to_its_verdict(
    discord_fake: FakeDiscord, gemini: FakeGemini, council: Council, database_url: str
) -> None:
    channel = council.guild.text_channel
    discord_fake.set_bot_permissions(channel.id, deny=Permission.CREATE_PUBLIC_THREADS)
    questions = [f"[D{n}] {QUESTION}" for n in (1, 2)]
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url):
        debates = [
            await discord_fake.invoke_command("debate", member=member, options={"question": question})
            for member, question in zip((council.asker, council.bystander), questions, strict=True)
        ]
        await posted(discord_fake, channel.id, f"[D1] {QUICK_REPLY}")
        pressed = await press_stop(discord_fake, debates[0], council.asker)
        assert (await pressed.wait_for_ack()).type == 6
        async with asyncio.timeout(30):
            finals = [await final_status(discord_fake, debate) for debate in debates]
    assert finals[0].endswith(f"\n⏹️ stopped by {ASKER_SHOWN}")
    assert "✅ done in" in finals[1]
    assert [r for r in discord_fake.requests if r.status == 429] == []
    stopped, finished = [await recorded_debate(database_url, question) for question in questions]
    assert stopped.status == "stopped"
    assert stopped.replies == {QUICK: (f"[D1] {QUICK_REPLY}", None)}
    assert finished.status == "done"
    assert all(text and text.startswith("[D2]") for text, _failure in finished.replies.values())
    assert len(finished.replies) == len(DEFAULT_PANEL)
    (verdict,) = verdict_calls(gemini)
    assert "[D2]" in verdict.user_text

    def own(debate: FakeInteraction) -> list[JSON]:
        return [
            message
            for message in discord_fake.channel_messages(channel.id)
            if (message.get("message_reference") or {}).get("message_id") == str(debate.original_message_id)
        ]

    stopped_titles = [e["title"] for m in own(debates[0]) for e in m["embeds"] if e.get("title")]
    assert stopped_titles == [DEFAULT_PANEL[0].label]
    assert own(debates[0])[-1]["content"].startswith(f"⏹️ Stopped by {ASKER_SHOWN}. 1 of 4 answers")
    finished_titles = [e["title"] for m in own(debates[1]) for e in m["embeds"] if e.get("title")]
    assert sorted(finished_titles) == sorted([*(p.label for p in DEFAULT_PANEL), "⚖️ Verdict"])
    for debate in debates:
        assert debate.original_message is not None
        assert debate.original_message["components"] == []


async def test_a_press_after_a_restart_is_told_the_debate_is_no_longer_running(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    async with (
        FakeGemini(api_key=GEMINI_KEY, responder=answers) as gemini,
        FakeDiscord(token=DISCORD_TOKEN) as discord,
    ):
        guild = discord.add_guild("Crash Guild")
        asker = guild.members[guild.owner_id]
        environment = bot_environment(discord, gemini, DATABASE_URL=database_url)

        first = await start_bot(environment, tmp_path, tmp_path / "first.log")
        try:
            debate = await discord.invoke_command("debate", member=asker, options={"question": QUESTION})
            await stop_button(discord, debate)
            await located(database_url)
        finally:
            first.kill()  # SIGKILL: the status message keeps its Stop button
            await first.wait()
        assert debate.original_message_id is not None
        # The restarted bot cannot edit that message (say it lost access), so the button stays there.
        discord.fail_next(
            "PATCH /channels/{channel_id}/messages/{message_id}",
            403,
            {"message": "Missing Access", "code": 50001},
        )
        second = await start_bot(environment, tmp_path, tmp_path / "second.log")
        try:
            await discord.wait_for_request(
                lambda r: r.route == "PATCH /channels/{channel_id}/messages/{message_id}" and r.status == 403,
                15,
            )
            calls_before = len(gemini.calls)
            answer = await refusal(await press_stop(discord, debate, asker))
        finally:
            assert await stop_bot(second) == 0
    assert answer == "This debate is no longer running."
    assert len(gemini.calls) == calls_before
    assert (await recorded_debate(database_url, QUESTION)).status == "interrupted"
