"""The verdict shown while it is written: posted with its first words, edited as the model writes (at most
once a second per message, never beyond the channel's buckets), continued in further embeds and messages
past Discord's limits, and in the end exactly the model's text with the debate's figures."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import defaultdict
from collections.abc import AsyncIterator

import pytest

from bot.core.personas import DEFAULT_PANEL
from bot.core.render import (
    DESCRIPTION_LIMIT,
    EMBED_CHARS_PER_MESSAGE,
    VERDICT_TITLE,
    WRITING_FOOTER,
    Embed,
    draft_verdict_embeds,
    embed_size,
    writing_state,
)
from bot.posting.channels import DebateQueue
from bot.ratelimits import MessageRequest
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    ORIGINAL_ROUTE,
    DebateRun,
    final_status,
    run_debate_command,
    running_parley,
    said_done,
    verdict_calls,
)
from tests.fakes.fake_discord import FakeDiscord, FakeInteraction, RecordedRequest
from tests.fakes.fake_gemini import FakeGemini, GeminiCall, Outcome, Reply, Usage

pytestmark = pytest.mark.e2e

QUESTION = "Should the Rebellion have destroyed the second Death Star?"
LABELS = [persona.label for persona in DEFAULT_PANEL]
POST_ROUTE = "POST /channels/{channel_id}/messages"
EDIT_ROUTE = "PATCH /channels/{channel_id}/messages/{message_id}"
DELETE_ROUTE = "DELETE /channels/{channel_id}/messages/{message_id}"
TAG = re.compile(r"\[D(\d+)\]")
JSON = dict[str, object]
NO_PINGS: JSON = {"parse": []}


def words(text: str, count: int) -> list[str]:
    """``text`` in ``count`` chunks of whole words that join to it, as a model streams it."""
    tokens = re.findall(r"\S+\s*", text)
    return ["".join(tokens[k * len(tokens) // count : (k + 1) * len(tokens) // count]) for k in range(count)]


def script_panel(gemini: FakeGemini) -> None:
    for persona in DEFAULT_PANEL:
        gemini.script(f"You are {persona.name},", Reply(f"{persona.name} has spoken.", latency=0.1))


def requests_to(discord: FakeDiscord, channel_id: int, route: str) -> list[RecordedRequest]:
    return [
        r
        for r in discord.requests
        if r.route == route and r.path_params.get("channel_id") == str(channel_id) and r.status < 300
    ]


def verdict_posts(posts: list[RecordedRequest]) -> list[RecordedRequest]:
    return [r for r in posts if any(e.get("title") == VERDICT_TITLE for e in r.json.get("embeds", []))]


def assert_edits_at_most_once_a_second(edits: list[RecordedRequest]) -> None:
    """Per message, consecutive edits reached Discord at least a second apart."""
    by_message: dict[str, list[float]] = defaultdict(list)
    for edit in edits:
        by_message[edit.path_params["message_id"]].append(edit.t)
    for times in by_message.values():
        times.sort()
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert all(gap >= 1.0 for gap in gaps), gaps


def visible(embed: dict[str, object]) -> dict[str, object]:
    """The parts of an embed Parley sets, without the fields Discord adds."""
    return {key: embed[key] for key in ("title", "description", "color", "footer") if key in embed}


def verdict_descriptions(payload: JSON) -> str:
    """The verdict's text in one message body: the descriptions from its titled embed on."""
    embeds = payload.get("embeds", [])
    assert isinstance(embeds, list)
    titles = [embed.get("title") for embed in embeds]
    start = titles.index(VERDICT_TITLE) if VERDICT_TITLE in titles else 0
    return "".join(embed.get("description", "") for embed in embeds[start:])


async def stream_verdict(text: str, chunks: list[str], chunk_delay: float) -> tuple[DebateRun, GeminiCall]:
    async with (
        FakeDiscord(token=DISCORD_TOKEN, latency_s=(0.05, 0.2), latency_seed=5) as discord,
        FakeGemini(api_key=GEMINI_KEY) as gemini,
    ):
        discord.add_guild("Yavin Base")
        script_panel(gemini)
        usage = Usage(prompt=500, candidates=len(text) // 4)
        gemini.script(
            "You chair a structured debate", Reply(text, chunks=chunks, chunk_delay=chunk_delay, usage=usage)
        )
        async with running_parley(discord, gemini):
            run = await run_debate_command(discord, QUESTION)
            await discord.wait_for_request(said_done(run.interaction), 5)
    (call,) = verdict_calls(gemini)
    return run, call


async def test_a_short_verdict_shows_its_first_words_and_grows_to_the_models_text() -> None:
    verdict = (
        "On balance justified. The crux is whether a station still under construction held combatants "
        "only; the pilots say it did, the officer says contractors died, the citizen counts the cost in "
        "freight, and the droid weighs both. Bottom line: destroying it ended the war sooner."
    )
    chunks = words(verdict, 12)
    run, call = await stream_verdict(verdict, chunks, chunk_delay=0.4)
    assert call.t_responded is not None

    posts = requests_to(run.discord, run.thread_id, POST_ROUTE)
    (first,) = verdict_posts(posts)
    assert first.t < call.t_responded - 3.0, "the verdict showed long before its call ended"
    shown = verdict_descriptions(first.json)
    assert shown
    assert verdict.startswith(shown)
    assert shown != verdict
    assert first.json["embeds"][-1]["footer"]["text"] == WRITING_FOOTER
    titles = [e["title"] for r in posts for e in r.json["embeds"] if e.get("title")]
    assert sorted(titles[:-1]) == sorted(LABELS), "the personas came first"
    assert titles[-1] == VERDICT_TITLE

    edits = requests_to(run.discord, run.thread_id, EDIT_ROUTE)
    assert len(edits) >= 3, "the draft grew in view"
    assert {edit.path_params["message_id"] for edit in edits} == {first.response["id"]}
    assert_edits_at_most_once_a_second(edits)
    drafts = [verdict_descriptions(edit.json) for edit in edits[:-1]]
    assert all(verdict.startswith(draft) for draft in drafts)
    assert [len(draft) for draft in drafts] == sorted(len(draft) for draft in drafts)
    assert all(r.json["allowed_mentions"] == NO_PINGS for r in posts + edits)

    assert run.text_of(VERDICT_TITLE) == verdict
    assert "speed-up" in run.thread_embeds[-1]["footer"]["text"]
    status_edits = list(run.requests(lambda r: r.route == ORIGINAL_ROUTE and r.status < 300))
    states = [str(r.json.get("content", "")).splitlines()[-1] for r in status_edits]
    assert writing_state() in states
    assert states[-1].startswith("✅ done in")
    assert status_edits[-1].t >= edits[-1].finished_at, "done only once the final edit was accepted"
    assert [r for r in run.discord.requests if r.status == 429] == []


async def test_a_verdict_past_the_embed_and_message_limits_continues_and_ends_exact() -> None:
    sentence = "The Rebellion weighed every voice, and the crux stayed the same: who aboard was a combatant? "
    verdict = (sentence * 100)[:9500].rstrip() + " Bottom line: justified."
    chunks = words(verdict, 40)
    run, call = await stream_verdict(verdict, chunks, chunk_delay=0.1)
    assert call.t_responded is not None

    posts = requests_to(run.discord, run.thread_id, POST_ROUTE)
    verdict_messages = [r for r in posts if r.t >= verdict_posts(posts)[0].t]
    assert len(verdict_messages) >= 2, "the verdict continued in a further message"
    assert verdict_messages[0].t < call.t_responded - 2.0
    assert verdict_messages[1].t < call.t_responded, "it grew into its second message while written"

    edits = requests_to(run.discord, run.thread_id, EDIT_ROUTE)
    assert_edits_at_most_once_a_second(edits)
    assert run.text_of(VERDICT_TITLE) == verdict
    messages = run.thread_messages
    verdict_ids = {r.response["id"] for r in verdict_messages}
    final = [m for m in messages if m["id"] in verdict_ids]
    assert len(final) == len(verdict_ids), "every message of the verdict is still there"
    for message in final:
        assert sum(embed_size(embed) for embed in message["embeds"]) <= EMBED_CHARS_PER_MESSAGE
        assert all(len(embed.get("description", "")) <= DESCRIPTION_LIMIT for embed in message["embeds"])
    embeds = [embed for message in final for embed in message["embeds"]]
    embeds = embeds[[e.get("title") for e in embeds].index(VERDICT_TITLE) :]
    assert [e.get("title") for e in embeds if e.get("title")] == [VERDICT_TITLE]
    assert "speed-up" in embeds[-1]["footer"]["text"]
    assert all("footer" not in embed for embed in embeds[:-1])
    assert [r for r in run.discord.requests if r.status == 429] == []


# -- several debates streaming their verdicts into one thread ------------------------------------------


class TaggedStreams:
    """Each debate's answers name its tag; verdicts stream slowly, so that they overlap."""

    def __call__(self, call: GeminiCall) -> Outcome:
        match = TAG.search(call.user_text)
        tag = match.group(0) if match else "[D?]"
        if call.model.endswith("flash"):
            text = tagged_verdict(tag)
            return Reply(text, chunks=words(text, 10), chunk_delay=0.35)
        name = call.system_text.removeprefix("You are ").split(",", 1)[0]
        return Reply(f"{tag} {name} answers.", latency=0.2 + 0.15 * (len(name) % 4))


def tagged_verdict(tag: str) -> str:
    return f"{tag} The council heard four voices. " + "Each weighed the cost of the war against its end. " * 6


def question(n: int) -> str:
    return f"[D{n}] Should the Jedi Council have trusted Anakin?"


@pytest.fixture
async def bucketed_discord() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(
        token=DISCORD_TOKEN,
        bucket_limits={"messages": (5, 5.0), "message_edit": (5, 5.0)},
        latency_s=(0.05, 0.2),
        latency_seed=3,
    ) as fake:
        fake.add_guild("Jedi Temple")
        yield fake


async def test_three_verdicts_streaming_into_one_thread_stay_within_the_buckets(
    bucketed_discord: FakeDiscord,
) -> None:
    discord = bucketed_discord
    guild = next(iter(discord.guilds.values()))
    thread = discord.add_thread(guild.text_channel, "council chamber")
    members = [discord.add_member(guild, f"padawan-{n}") for n in range(3)]
    async with (
        FakeGemini(api_key=GEMINI_KEY, responder=TaggedStreams()) as gemini,
        running_parley(discord, gemini),
    ):
        interactions: list[FakeInteraction] = list(
            await asyncio.gather(
                *(
                    discord.invoke_command(
                        "debate", channel=thread, member=member, options={"question": question(n)}
                    )
                    for n, member in enumerate(members)
                )
            )
        )
        async with asyncio.timeout(60):
            await asyncio.gather(*(final_status(discord, interaction) for interaction in interactions))
            # The fake shows an edit before it answers it: wait for the answers, as the bot does.
            await asyncio.gather(*(discord.wait_for_request(said_done(i), 10) for i in interactions))
        calls = verdict_calls(gemini)

    assert [r for r in discord.requests if r.status == 429] == []
    edits = requests_to(discord, thread.id, EDIT_ROUTE)
    assert_edits_at_most_once_a_second(edits)
    ends = sorted(call.t_responded or 0.0 for call in calls)
    starts = sorted(call.t_received for call in calls)
    assert starts[-1] < ends[0], "the three verdicts streamed at the same time"
    posts = requests_to(discord, thread.id, POST_ROUTE)
    messages = {message["id"]: message for message in discord.channel_messages(thread.id)}
    for n, interaction in enumerate(interactions):
        tag = f"[D{n}]"
        status_id = str(interaction.original_message_id)
        own = [p for p in posts if p.response["message_reference"]["message_id"] == status_id]
        titles = [e["title"] for p in own for e in p.json["embeds"] if e.get("title")]
        assert sorted(titles[:-1]) == sorted(LABELS), titles
        assert titles[-1] == VERDICT_TITLE, titles
        (verdict_post,) = verdict_posts(own)
        assert tag in verdict_descriptions(verdict_post.json), "a draft showed while the verdict was written"
        (call,) = [c for c in calls if tag in c.user_text]
        assert call.t_responded is not None
        assert verdict_post.t < call.t_responded - 1.0
        final = messages[verdict_post.response["id"]]
        assert verdict_descriptions(final) == tagged_verdict(tag)
        assert "speed-up" in final["embeds"][-1]["footer"]["text"]
        assert "✅ done in" in str(interaction.original_message.get("content"))  # type: ignore[union-attr]


# -- the posting side alone: a draft that shrinks, and an interruption while one is shown ---------------


async def test_a_final_shorter_than_its_draft_deletes_the_surplus_and_an_interrupted_draft_stays() -> None:
    async with (
        FakeDiscord(
            token=DISCORD_TOKEN,
            bucket_limits={"message_edit": (4, 4.0), "message_delete": (3, 1.0)},
            latency_s=(0.05, 0.1),
            latency_seed=1,
        ) as discord,
        FakeGemini(api_key=GEMINI_KEY) as gemini,
    ):
        guild = discord.add_guild("Hoth Echo Base")
        thread = discord.add_thread(guild.text_channel, "war room")
        async with running_parley(discord, gemini) as bot:
            long_draft = draft_verdict_embeds("Wampa. " * 1000)
            shrinking = DebateQueue(0, "Send Messages in Threads")
            bot.senders.attach(shrinking, thread.id)
            shrinking.draft_verdict(long_draft)
            await discord.wait_for_request(
                lambda r: r.route == POST_ROUTE and len(verdict_posts([r])) == 0, 5
            )
            short: list[Embed] = [
                {"title": VERDICT_TITLE, "description": "Evacuate.", "color": 1, "footer": {"text": "done"}}
            ]
            shrinking.add_verdict(short)
            async with asyncio.timeout(10):
                await shrinking.delivered()

            interrupted = DebateQueue(0, "Send Messages in Threads")
            bot.senders.attach(interrupted, thread.id)
            interrupted.draft_verdict(draft_verdict_embeds("The shield generator holds"))
            await discord.wait_for_request(
                lambda r: r.route == POST_ROUTE and "shield" in str(r.json) and r.status < 300, 5
            )
            interrupted.draft_verdict(draft_verdict_embeds("The shield generator holds for now, but"))
            interrupted.close("⚠️ This debate was interrupted.")
            async with asyncio.timeout(10):
                await interrupted.delivered()
            limits = bot.rate_limits
            buckets = [limits.limit(thread.id, kind) for kind in MessageRequest]
            assert buckets == [5, 4, 3], "each bucket is read from its own responses"

    posts = requests_to(discord, thread.id, POST_ROUTE)
    assert len(posts) == 4, "two messages of the long draft, the interrupted draft, the note"
    deletes = requests_to(discord, thread.id, DELETE_ROUTE)
    assert [d.path_params["message_id"] for d in deletes] == [posts[1].response["id"]]
    edits = requests_to(discord, thread.id, EDIT_ROUTE)
    assert [e.path_params["message_id"] for e in edits] == [posts[0].response["id"]]
    messages = discord.channel_messages(thread.id)
    shown = [[visible(embed) for embed in message["embeds"]] for message in messages[:2]]
    assert shown == [short, draft_verdict_embeds("The shield generator holds")]
    assert messages[2]["content"] == "⚠️ This debate was interrupted."
    assert len(messages) == 3
