"""Several debates sharing one channel or thread, debates started before ``on_ready``, and what a
shutdown leaves: each debate posted in order and in full, "done" only once landed, never a 429."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.client import ParleyBot
from bot.core.limits import usage_day, utc_now
from bot.core.personas import DEFAULT_PANEL
from bot.gemini import GeminiLLM
from bot.settings import settings_from
from bot.store import Store
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    bot_environment,
    final_status,
    recorded_debate,
    running_parley,
    said_done,
    status_of,
)
from tests.fakes.fake_discord import FakeChannel, FakeDiscord, FakeInteraction, Permission, RecordedRequest
from tests.fakes.fake_gemini import FakeGemini, GeminiCall, Outcome, Reply

pytestmark = pytest.mark.e2e

TAG = re.compile(r"\[D(\d+)\]")
LABELS = [persona.label for persona in DEFAULT_PANEL]
MESSAGES_ROUTE = "POST /channels/{channel_id}/messages"
JSON = dict[str, object]


def question(n: int) -> str:
    return f"[D{n}] Should the Jedi Council have trusted Anakin?"


class TaggedAnswers:
    """The fake Gemini's answers: each names its debate's tag; persona latencies vary, seeded."""

    def __init__(self, seed: int, *, slow: str | None = None) -> None:
        self.rng = random.Random(seed)
        self.slow = slow

    def __call__(self, call: GeminiCall) -> Outcome:
        match = TAG.search(call.user_text)
        tag = match.group(0) if match else "[D?]"
        if call.model.endswith("flash"):  # the verdict model
            return Reply(f"{tag} The council weighs every voice and finds for caution.", latency=0.3)
        name = call.system_text.removeprefix("You are ").split(",", 1)[0]
        if name == self.slow:
            return Reply(f"{tag} {name} never quite finishes.", latency=30)
        return Reply(f"{tag} {name} answers the question.", latency=self.rng.uniform(0.2, 1.2))


def tag_of(message: JSON) -> str | None:
    """The debate tag a posted message carries (in its embeds, or its content)."""
    match = TAG.search(str(message.get("embeds", "")) + str(message.get("content", "")))
    return match.group(0) if match else None


def posts_to(discord: FakeDiscord, channel_id: int) -> list[RecordedRequest]:
    return [
        r
        for r in discord.requests
        if r.route == MESSAGES_ROUTE and r.path_params.get("channel_id") == str(channel_id) and r.status < 300
    ]


def done_edit(discord: FakeDiscord, interaction: FakeInteraction) -> RecordedRequest:
    (edit,) = [r for r in discord.requests if said_done(interaction)(r)]
    return edit


def assert_each_debate_posted_in_order(
    discord: FakeDiscord, channel_id: int, interactions: list[FakeInteraction]
) -> None:
    """Per debate: its four personas, then its verdict, all replying to its status message, and its
    status turned "done" only after its last message had landed; no 429 anywhere."""
    posts = posts_to(discord, channel_id)
    for n, interaction in enumerate(interactions):
        tag = f"[D{n}]"
        own = [post for post in posts if tag_of(post.json) == tag]
        assert own, f"nothing posted for {tag}"
        status_id = str(interaction.original_message_id)
        assert all(post.response["message_reference"]["message_id"] == status_id for post in own)
        titles = [embed["title"] for post in own for embed in post.json["embeds"] if embed.get("title")]
        assert sorted(titles[:-1]) == sorted(LABELS), titles
        assert titles[-1] == "⚖️ Verdict", titles
        assert done_edit(discord, interaction).t >= max(post.finished_at for post in own)
        assert "✅ done in" in status_of(interaction)
    assert [r for r in discord.requests if r.status == 429] == []


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(
        token=DISCORD_TOKEN, bucket_limits={"messages": (5, 5.0)}, latency_s=(0.05, 0.2), latency_seed=3
    ) as fake:
        fake.add_guild("Jedi Temple")
        yield fake


async def three_at_once(discord: FakeDiscord, channel: FakeChannel) -> list[FakeInteraction]:
    guild = next(iter(discord.guilds.values()))
    members = [discord.add_member(guild, f"padawan-{n}") for n in range(3)]
    interactions = await asyncio.gather(
        *(
            discord.invoke_command(
                "debate", channel=channel, member=member, options={"question": question(n)}
            )
            for n, member in enumerate(members)
        )
    )
    async with asyncio.timeout(60):
        await asyncio.gather(*(final_status(discord, interaction) for interaction in interactions))
        # The fake shows an edit before it answers it: wait for the answers, as the bot does.
        await asyncio.gather(
            *(discord.wait_for_request(said_done(interaction), 10) for interaction in interactions)
        )
    return list(interactions)


async def test_three_debates_at_once_in_one_thread(discord_fake: FakeDiscord) -> None:
    guild = next(iter(discord_fake.guilds.values()))
    thread = discord_fake.add_thread(guild.text_channel, "council chamber")
    gemini = FakeGemini(api_key=GEMINI_KEY, responder=TaggedAnswers(1))
    async with gemini, running_parley(discord_fake, gemini):
        interactions = await three_at_once(discord_fake, thread)
    assert discord_fake.threads.keys() == {thread.id}, "no new thread"
    assert_each_debate_posted_in_order(discord_fake, thread.id, interactions)


async def test_three_debates_at_once_in_a_channel_without_thread_permission(
    discord_fake: FakeDiscord,
) -> None:
    guild = next(iter(discord_fake.guilds.values()))
    discord_fake.set_bot_permissions(guild.text_channel.id, deny=Permission.CREATE_PUBLIC_THREADS)
    gemini = FakeGemini(api_key=GEMINI_KEY, responder=TaggedAnswers(2))
    async with gemini, running_parley(discord_fake, gemini):
        interactions = await three_at_once(discord_fake, guild.text_channel)
    assert discord_fake.threads == {}
    assert_each_debate_posted_in_order(discord_fake, guild.text_channel.id, interactions)


async def test_a_debate_started_before_on_ready_is_not_taken_for_a_leftover(
    tmp_path: Path,
) -> None:
    """discord.py dispatches interactions while it still waits for guilds before ``on_ready``, where
    the recovery of earlier runs' debates runs: a debate of this run must go on."""
    async with FakeDiscord(token=DISCORD_TOKEN) as discord_fake, FakeGemini(api_key=GEMINI_KEY) as gemini:
        discord_fake.add_guild("Jedi Temple")
        for persona in DEFAULT_PANEL:
            gemini.script(f"You are {persona.name},", Reply(f"{persona.name} has spoken.", latency=3.0))
        settings = settings_from(
            bot_environment(discord_fake, gemini, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
        )
        store = await Store.open(settings.database_url)
        llm = GeminiLLM(settings.gemini_api_key.reveal(), base_url=settings.gemini_base_url)
        bot = ParleyBot(settings=settings, llm=llm, store=store)
        started = asyncio.create_task(bot.start(settings.discord_token.reveal()))
        try:
            await discord_fake.wait_until_ready()
            interaction = await discord_fake.invoke_command("debate", options={"question": question(0)})
            assert (await interaction.wait_for_ack()).type == 5
            assert not bot.is_ready(), "the debate must start before on_ready for this test to mean anything"
            async with asyncio.timeout(30):
                final = await final_status(discord_fake, interaction)
            assert bot.is_ready()
        finally:
            await bot.close()
            await asyncio.wait_for(started, 10)
            await llm.aclose()
            await store.close()
    assert "✅ done in" in final
    thread_messages = discord_fake.channel_messages(interaction.original_message_id or 0)
    assert not any("interrupted" in str(message.get("content", "")) for message in thread_messages)
    assert (await recorded_debate(settings.database_url, question(0))).status == "done"


async def test_at_shutdown_what_was_queued_lands_before_each_note(tmp_path: Path) -> None:
    """Two debates share a channel whose bucket is nearly spent when the bot is stopped: every answer
    that had arrived is posted, then each debate's note, in order, without a 429."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    async with (
        FakeDiscord(token=DISCORD_TOKEN, bucket_limits={"messages": (2, 3.0)}) as discord_fake,
        FakeGemini(api_key=GEMINI_KEY, responder=TaggedAnswers(3, slow="Droid Analyst")) as gemini,
    ):
        guild = discord_fake.add_guild("Jedi Temple")
        discord_fake.set_bot_permissions(guild.text_channel.id, deny=Permission.CREATE_PUBLIC_THREADS)
        members = [discord_fake.add_member(guild, f"padawan-{n}") for n in range(2)]
        async with running_parley(
            discord_fake, gemini, DATABASE_URL=database_url, SHUTDOWN_GRACE_S="0.5", PERSONA_TIMEOUT_S="20"
        ) as bot:
            interactions = [
                await discord_fake.invoke_command("debate", member=member, options={"question": question(n)})
                for n, member in enumerate(members)
            ]
            await gemini.wait_for_calls(8)
            await asyncio.sleep(1.5)  # the quick personas have answered; the channel's bucket is spent
            await bot.shutdown()
    messages = discord_fake.channel_messages(guild.text_channel.id)
    assert [r for r in discord_fake.requests if r.status == 429] == []
    store = await Store.open(database_url)
    try:
        charged = await store.tokens_used(guild.id, usage_day(utc_now()))
        used = [await store.debate_tokens(debate) for debate in (1, 2)]
    finally:
        await store.close()
    assert charged == sum(used) > 0, "interrupted debates are charged what their answers used"
    for n, interaction in enumerate(interactions):
        record = await recorded_debate(database_url, question(n))
        assert record.status == "interrupted"
        answered = {name for name, (text, _failure) in record.replies.items() if text}
        assert answered == {"Rebel Pilot", "Imperial Officer", "Neutral Citizen"}
        own = [
            message
            for message in messages
            if (message.get("message_reference") or {}).get("message_id")
            == str(interaction.original_message_id)
        ]
        titles = [
            embed["title"] for message in own for embed in message.get("embeds", []) if embed.get("title")
        ]
        assert sorted(titles) == sorted(f"{p.emoji} {p.name}" for p in DEFAULT_PANEL if p.name in answered)
        assert own[-1]["content"].startswith("⚠️ This debate was interrupted: Parley was shut down")
        assert "3 of 4 answers had arrived" in own[-1]["content"]
        assert status_of(interaction).endswith(
            "❌ failed: interrupted (Parley was shut down before it finished)"
        )
