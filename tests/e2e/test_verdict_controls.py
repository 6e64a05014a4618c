"""The controls under a verdict: on its last message only (posted with it, or added by its final edit when
it was streamed), and answered by any later run of the bot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.core.render import VERDICT_TITLE
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    DebateRun,
    run_debate_command,
    running_parley,
    settled_original,
)
from tests.fakes.fake_discord import FakeDiscord, FakeGuild
from tests.fakes.fake_gemini import FakeGemini, GeminiCall, Reply, even_chunks

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]
SHORT_VERDICT = "## Bottom line\nThe [D1] Death Star was a legitimate target."
LONG_VERDICT = "## Bottom line\n" + "The [D2] Rebellion had no other way to stop the Death Star. " * 160
"""About 9,600 characters: three embeds, in three messages (the last keeps room for the crowd's fields)."""


def is_verdict_of(tag: str) -> Callable[[GeminiCall], bool]:
    return lambda call: call.system_text.startswith("You chair a structured debate") and tag in call.user_text


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    """The personas answer as the fake does by default; D2's verdict is long and streamed over seconds."""
    async with FakeGemini(api_key=GEMINI_KEY) as fake:
        fake.script(is_verdict_of("[D1]"), Reply(SHORT_VERDICT))
        fake.script(
            is_verdict_of("[D2]"), Reply(LONG_VERDICT, chunks=even_chunks(LONG_VERDICT, 8), chunk_delay=0.4)
        )
        yield fake


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=DISCORD_TOKEN) as fake:
        yield fake


@pytest.fixture
def guild(discord_fake: FakeDiscord) -> FakeGuild:
    return discord_fake.add_guild("Yavin IV")


def buttons(message: JSON) -> list[JSON]:
    return [button for row in message.get("components", []) for button in row["components"]]


def verdict_messages(run: DebateRun) -> list[JSON]:
    """The thread's messages from the one where the verdict starts."""
    messages = run.thread_messages
    first = next(
        index
        for index, message in enumerate(messages)
        if any(embed.get("title") == VERDICT_TITLE for embed in message.get("embeds", []))
    )
    return messages[first:]


def transcript_button(run: DebateRun) -> tuple[int, JSON]:
    """The verdict's last message and its Transcript button."""
    last = verdict_messages(run)[-1]
    (button,) = [button for button in buttons(last) if button["custom_id"].startswith("parley:transcript:")]
    return int(last["id"]), button


async def test_a_verdict_posted_whole_carries_its_controls_on_that_post_and_no_other_message_has_any(
    discord_fake: FakeDiscord, gemini: FakeGemini, guild: FakeGuild
) -> None:
    async with running_parley(discord_fake, gemini):
        run = await run_debate_command(discord_fake, "[D1] Was the Death Star a legitimate target?")
    assert "✅ done in" in run.status
    (verdict,) = verdict_messages(run)
    _, button = transcript_button(run)
    assert button["label"] == "Transcript"
    assert button["style"] == 2
    assert button["custom_id"].removeprefix("parley:transcript:").isdigit()
    assert [message["id"] for message in run.thread_messages if message.get("components")] == [verdict["id"]]
    edits = run.requests(lambda r: r.method == "PATCH" and f"/channels/{run.thread_id}/" in r.path)
    assert edits == [], "the controls went out with the verdict's post, not in an edit of their own"


async def test_a_streamed_verdict_over_two_messages_gets_its_controls_on_the_last_by_its_final_edit_only(
    discord_fake: FakeDiscord, gemini: FakeGemini, guild: FakeGuild
) -> None:
    async with running_parley(discord_fake, gemini):
        run = await run_debate_command(discord_fake, "[D2] Could the Rebellion have spared the Death Star?")
    assert "✅ done in" in run.status
    messages = verdict_messages(run)
    # The room kept for the crowd's fields beside the verdict's end moves that end to a message of its own.
    assert len(messages) == 3
    assert [[embed.get("title") for embed in message["embeds"]] for message in messages] == [
        [VERDICT_TITLE],
        [None],
        [None],
    ]
    (end,) = messages[-1]["embeds"]
    assert [field["name"] for field in end["fields"]][-3:] == ["Council", "👥 Crowd", "Agreement"]
    assert "speed-up" in end["footer"]["text"]
    assert "".join(embed.get("description", "") for m in messages for embed in m["embeds"]).startswith(
        LONG_VERDICT.strip()[:200]
    )
    last_id, _ = transcript_button(run)
    assert last_id == int(messages[-1]["id"])
    assert not messages[0].get("components")
    with_controls = [
        request
        for request in run.requests(
            lambda r: r.status < 300 and f"/channels/{run.thread_id}/messages" in r.path
        )
        if isinstance(request.json, dict) and request.json.get("components")
    ]
    assert len(with_controls) == 1, "the controls are sent once, with the verdict's final form"
    (request,) = with_controls
    assert request.path.endswith(f"/messages/{last_id}") or request.method == "POST"
    drafts = run.requests(lambda r: r.method == "PATCH" and "writing…" in str(r.json))
    assert drafts, "the verdict was shown while it was written"
    assert all(not (draft.json or {}).get("components") for draft in drafts)


async def test_after_a_restart_each_member_pressing_transcript_gets_their_debate_privately(
    discord_fake: FakeDiscord, gemini: FakeGemini, guild: FakeGuild, tmp_path: Path
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}"
    leia = discord_fake.add_member(guild, "leia")
    han = discord_fake.add_member(guild, "han")
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url):
        first = await run_debate_command(discord_fake, "[D1] Was the Death Star a legitimate target?")
        second = await run_debate_command(discord_fake, "[D2] Could the Rebellion have spared it?")
    shown = {
        first.interaction.id: first.text_of(VERDICT_TITLE),
        second.interaction.id: second.text_of(VERDICT_TITLE),
    }

    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url):  # a new run of the bot
        for run, member in ((first, leia), (second, han)):
            message_id, button = transcript_button(run)
            pressed = await discord_fake.invoke_component(message_id, button["custom_id"], member=member)
            reply = await settled_original(discord_fake, pressed)
            assert reply["flags"] & 64, "only the member who pressed gets the file"
            (attachment,) = reply["attachments"]
            record = button["custom_id"].removeprefix("parley:transcript:")
            assert attachment["filename"] == f"debate-{record}.md"
            document = discord_fake.uploaded_file(attachment["url"]).decode()
            assert shown[run.interaction.id] in document
            other = second if run is first else first
            assert shown[other.interaction.id] not in document
