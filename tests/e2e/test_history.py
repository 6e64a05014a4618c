"""``/debates history`` and ``/debates transcript`` end to end: paging, who sees what, the file."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.client import ParleyBot
from bot.core.debate import DebateStats, PersonaReply
from bot.core.llm import TokenUsage
from bot.core.personas import DEFAULT_PANEL
from bot.core.records import DebateStatus, Judging
from bot.core.render import VERDICT_TITLE
from bot.store import Store
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    VERDICT_MODEL,
    message_payloads,
    run,
    run_debate_command,
    running_parley,
    settled_original,
)
from tests.fakes.fake_discord import (
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeMember,
    Permission,
)
from tests.fakes.fake_gemini import FakeGemini, Fault, GeminiCall, Outcome, Reply

pytestmark = pytest.mark.e2e

VERDICT_SYSTEM = "You chair a structured debate"
LINE_ID = re.compile(r"^\[?#(\d+) · ")
NO_PINGS: dict[str, list[str]] = {"parse": []}


@dataclass
class Server:
    """A guild with #general, a #secret channel members cannot see, a thread in each, and two members."""

    guild: FakeGuild
    secret: FakeChannel
    open_thread: FakeChannel
    secret_thread: FakeChannel
    member: FakeMember
    other: FakeMember

    @property
    def general(self) -> FakeChannel:
        return self.guild.text_channel

    @property
    def owner(self) -> FakeMember:
        return self.guild.members[self.guild.owner_id]


def persona_name(call: GeminiCall) -> str:
    return call.system_text.removeprefix("You are ").split(",", 1)[0]


def round_of(call: GeminiCall) -> int:
    marker = "This is round "
    return int(call.user_text.split(marker)[1][0]) if marker in call.user_text else 1


def persona_answer(name: str, round_number: int) -> str:
    """A Markdown answer as a model writes one: headings, a list, a link, a mention-like string."""
    return (
        f"## {name}, round {round_number}\n\n"
        f"- first, *because* of [the treaty](https://example.org/{name.split()[0].lower()})\n"
        f"- second: @everyone knows `{round_number * 7}` <@123>\n\nSo: {name} rests."
    )


VERDICT_TEXT = "## The crux\nPersona A and Persona B disagree.\n\n## Bottom line\nPersona C is right."


class Answers:
    """Every persona answers instantly with :func:`persona_answer`; the Imperial Officer is blocked in
    round 1; the verdict is :data:`VERDICT_TEXT`."""

    def __call__(self, call: GeminiCall) -> Outcome:
        if VERDICT_SYSTEM in call.system_text:
            return Reply(VERDICT_TEXT)
        name, number = persona_name(call), round_of(call)
        if name == "Imperial Officer" and number == 1:
            return Fault.blocked_reply()
        document = {
            "stance": "for" if name != "Droid Analyst" else "against",
            "confidence": 0.75,
            "key_claim": f"{name} claims {number}.",
            "answer": persona_answer(name, number),
        }
        return Reply(json.dumps(document))


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=GEMINI_KEY, responder=Answers()) as fake:
        yield fake


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=DISCORD_TOKEN) as fake:
        yield fake


@pytest.fixture
def server(discord_fake: FakeDiscord) -> Server:
    guild = discord_fake.add_guild("Parley History")
    secret = discord_fake.add_channel(guild, "secret")
    # Docs topics/permissions#permission-overwrites: an @everyone overwrite denying View Channel hides it
    # from every member who is not the owner or an administrator.
    discord_fake.set_permission_overwrite(secret, guild.id, deny=int(Permission.VIEW_CHANNEL))
    discord_fake.set_bot_permissions(secret.id, allow=int(Permission.VIEW_CHANNEL))  # Parley works there
    return Server(
        guild,
        secret,
        discord_fake.add_thread(guild.text_channel, "open thread"),
        discord_fake.add_thread(secret, "secret thread"),
        discord_fake.add_member(guild, "member"),
        discord_fake.add_member(guild, "other"),
    )


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}"


@pytest.fixture
async def parley(
    discord_fake: FakeDiscord, gemini: FakeGemini, server: Server, database_url: str
) -> AsyncIterator[ParleyBot]:
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url) as bot:
        yield bot


ENDINGS = (DebateStatus.DONE, DebateStatus.FAILED, DebateStatus.STOPPED, DebateStatus.INTERRUPTED)


async def write_debates(database_url: str, guild: FakeGuild, channels: list[int], asker: int) -> list[int]:
    """One debate per channel in ``channels`` written straight into the database, as the bot writes them
    (4 replies each, ending in turn done, failed, stopped, interrupted); returns their ids in order."""
    store = await Store.open(database_url)
    ids: list[int] = []
    try:
        for number, channel_id in enumerate(channels, start=1):
            debate_id = await store.begin_debate(
                guild_id=guild.id,
                channel_id=channel_id,
                user_id=asker,
                question=f"Question {number:02d}?",
                panel=DEFAULT_PANEL,
                run_id="an-earlier-run",
            )
            await store.locate_debate(debate_id, status_message_id=9000 + number, posts_channel_id=None)
            for position, persona in enumerate(DEFAULT_PANEL):
                await store.record_reply(
                    debate_id,
                    position,
                    persona,
                    PersonaReply(f"Answer {number}.", "m", 0.1, TokenUsage(10, 5)),
                )
            status = ENDINGS[(number - 1) % len(ENDINGS)]
            done = status is DebateStatus.DONE
            await store.end_debate(
                debate_id,
                status,
                status.value,
                verdict=f"Verdict {number}." if done else None,
                stats=DebateStats(1.0, 2.0, 0.5, TokenUsage(100, 20), 4, 4) if done else None,
                judging=Judging(VERDICT_MODEL if number != 5 else "backup-model", (0, 1, 2, 3))
                if done
                else None,
            )
            ids.append(debate_id)
    finally:
        await store.close()
    return ids


def listed_ids(message: dict[str, Any]) -> list[int]:
    (embed,) = message["embeds"]
    return [int(match[1]) for line in embed["description"].splitlines() if (match := LINE_ID.match(line))]


def button(message: dict[str, Any], label: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        c for row in message["components"] for c in row["components"] if c.get("label") == label
    ]
    (only,) = found
    return only


async def press(
    fake: FakeDiscord, message_id: int, message: dict[str, Any], label: str, member: FakeMember
) -> Any:
    clicked = await fake.invoke_component(message_id, button(message, label)["custom_id"], member=member)
    return await clicked.wait_for_ack()


async def history(fake: FakeDiscord, server: Server, member: FakeMember) -> tuple[int, dict[str, Any]]:
    """``/debates history`` as ``member``: the id of the message holding its page, and the page."""
    interaction = await fake.invoke_command("debates history", guild=server.guild, member=member)
    await interaction.wait_for_ack()
    page = await settled_original(fake, interaction)
    assert page["flags"] & 64, "the history is ephemeral"
    return int(page["id"]), page


async def test_history_pages_through_30_debates_newest_first_and_the_buttons_survive_a_restart(
    discord_fake: FakeDiscord, gemini: FakeGemini, server: Server, database_url: str
) -> None:
    ids = await write_debates(database_url, server.guild, [server.general.id] * 30, server.other.id)
    newest_first = ids[::-1]
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url):
        message_id, page = await history(discord_fake, server, server.member)
        assert listed_ids(page) == newest_first[:10]
        assert page["embeds"][0]["footer"]["text"] == "Page 1 of 3 · 30 debates"
        assert button(page, "Previous").get("disabled") is True
        line = page["embeds"][0]["description"].splitlines()[0]
        status_link = f"https://discord.com/channels/{server.guild.id}/{server.general.id}/{9030}"
        assert line == (
            f"[#{ids[-1]} · Question 30?]({status_link}) · <@{server.other.id}> · 1 round · ❌ failed · "
            f"60 tokens · {line.rsplit(' · ', 1)[1]}"
        )

        ack = await press(discord_fake, message_id, page, "Next", server.member)
        assert ack.type == 7
        page = ack.data
        assert listed_ids(page) == newest_first[10:20]
        assert page["embeds"][0]["footer"]["text"] == "Page 2 of 3 · 30 debates"

        refused = await press(discord_fake, message_id, page, "Next", server.other)
        assert refused.type == 4
        assert refused.data["content"] == "These buttons belong to the member who asked for this history."
        assert refused.data["flags"] & 64
        assert listed_ids(discord_fake.message(message_id) or {}) == newest_first[10:20]

    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url):  # a new run of the bot
        ack = await press(discord_fake, message_id, page, "Next", server.member)
        assert ack.type == 7
        page = ack.data
        assert listed_ids(page) == newest_first[20:30]
        assert page["embeds"][0]["footer"]["text"] == "Page 3 of 3 · 30 debates"
        assert button(page, "Next").get("disabled") is True
        (fallback_line,) = [line for line in _lines(page) if line.startswith(f"[#{ids[4]} ")]
        assert "✅ done · verdict by fallback backup-model · 120 tokens" in fallback_line
        ack = await press(discord_fake, message_id, page, "Previous", server.member)
        assert listed_ids(ack.data) == newest_first[10:20]

    history_bodies = [p for p in message_payloads(discord_fake) if p.get("embeds")]
    assert history_bodies
    assert all(body.get("allowed_mentions") == NO_PINGS for body in history_bodies)
    assert discord_fake.pings == []


def _lines(message: dict[str, Any]) -> list[str]:
    return str(message["embeds"][0]["description"]).splitlines()


async def test_a_member_never_sees_a_debate_from_a_channel_hidden_from_them_while_a_moderator_does(
    discord_fake: FakeDiscord, server: Server, database_url: str, parley: ParleyBot
) -> None:
    secret_run = await run_debate_command(
        discord_fake, "What is in the secret channel?", channel=server.secret, member=server.owner
    )
    assert "✅ done in" in secret_run.status
    open_run = await run_debate_command(
        discord_fake, "What is in the open channel?", channel=server.general, member=server.member
    )
    assert "✅ done in" in open_run.status
    channels = [server.general.id, server.secret.id, server.open_thread.id, server.secret_thread.id, 424242]
    written = dict(
        zip(["general", "secret", "open thread", "secret thread", "deleted"], channels, strict=True)
    )
    ids = dict(
        zip(written, await write_debates(database_url, server.guild, channels, server.owner.id), strict=True)
    )
    real = {
        q: i for q, i in (await ids_by_question(database_url, server.guild)).items() if q.startswith("What")
    }
    visible = {ids["general"], ids["open thread"], real["What is in the open channel?"]}
    everything = set(ids.values()) | set(real.values())

    _id, member_page = await history(discord_fake, server, server.member)
    assert set(listed_ids(member_page)) == visible
    assert member_page["embeds"][0]["footer"]["text"] == "Page 1 of 1 · 3 debates"
    _id, owner_page = await history(discord_fake, server, server.owner)
    assert set(listed_ids(owner_page)) == everything

    for hidden in everything - visible:
        reply = await run(discord_fake, "debates transcript", server.member, server.guild, debate=hidden)
        assert reply["content"] == f"There is no debate #{hidden} in this server that you can see."
        assert not reply.get("attachments")
    allowed = await run(
        discord_fake, "debates transcript", server.member, server.guild, debate=ids["general"]
    )
    assert [a["filename"] for a in allowed["attachments"]] == [f"debate-{ids['general']}.md"]
    for_owner = await run(
        discord_fake, "debates transcript", server.owner, server.guild, debate=ids["secret"]
    )
    assert [a["filename"] for a in for_owner["attachments"]] == [f"debate-{ids['secret']}.md"]

    offered = await suggestions(discord_fake, server, server.member, "what is in")
    assert offered == [
        (
            real["What is in the open channel?"],
            f"#{real['What is in the open channel?']} · What is in the open channel?",
        )
    ]
    offered_to_owner = await suggestions(discord_fake, server, server.owner, "what is in")
    assert {value for value, _name in offered_to_owner} == {
        real["What is in the open channel?"],
        real["What is in the secret channel?"],
    }

    # The member is let into #secret: its debates (and its thread's) show up at once.
    discord_fake.set_permission_overwrite(server.secret, server.member, allow=int(Permission.VIEW_CHANNEL))
    await overwrite_cached(parley, server.secret.id, server.member.id)
    _id, member_page = await history(discord_fake, server, server.member)
    assert set(listed_ids(member_page)) == everything - {ids["deleted"]}


async def overwrite_cached(bot: ParleyBot, channel_id: int, target_id: int) -> None:
    """Wait until the CHANNEL_UPDATE carrying an overwrite for ``target_id`` reached the bot's cache."""

    def cached(*_changed: object) -> bool:
        channel = bot.get_channel(channel_id)
        assert isinstance(channel, discord.TextChannel)
        return any(target.id == target_id for target in channel.overwrites)

    if not cached():
        await bot.wait_for("guild_channel_update", check=cached, timeout=5)


async def suggestions(
    fake: FakeDiscord, server: Server, member: FakeMember, typed: str
) -> list[tuple[int, str]]:
    interaction = await fake.invoke_autocomplete(
        "debates transcript", focused="debate", guild=server.guild, member=member, options={"debate": typed}
    )
    ack = await interaction.wait_for_ack()
    assert ack.type == 8
    assert ack.data is not None
    return [(choice["value"], choice["name"]) for choice in ack.data["choices"]]


async def ids_by_question(database_url: str, guild: FakeGuild) -> dict[str, int]:
    """The guild's debates as the database holds them: question → id."""
    store = await Store.open(database_url)
    try:
        return {summary.question: summary.id for summary in await store.debate_summaries(guild.id, limit=100)}
    finally:
        await store.close()


@pytest.mark.usefixtures("parley")
async def test_the_transcript_file_holds_every_answer_and_the_verdict_verbatim(
    discord_fake: FakeDiscord, server: Server
) -> None:
    question = "Should the **Rebellion** negotiate?\nAnswer with care."
    debate = await run_debate_command(
        discord_fake, question, options={"rounds": 2}, channel=server.general, member=server.member
    )
    assert "✅ done in" in debate.status
    other = await run_debate_command(discord_fake, "Another debate, same channel?", member=server.member)
    assert "✅ done in" in other.status

    offered = await suggestions(discord_fake, server, server.member, "rebellion")
    ((debate_id, name),) = offered
    assert name == f"#{debate_id} · Should the **Rebellion** negotiate? Answer with care."

    reply = await run(discord_fake, "debates transcript", server.member, server.guild, debate=debate_id)
    assert reply["flags"] & 64
    (attachment,) = reply["attachments"]
    assert attachment["filename"] == f"debate-{debate_id}.md"
    document = discord_fake.uploaded_file(attachment["url"]).decode()

    assert document.startswith(
        f"# Debate #{debate_id}\n\n> Should the **Rebellion** negotiate?\n> Answer with care.\n"
    )
    for persona in DEFAULT_PANEL:
        assert persona_answer(persona.name, 2) in document
        if persona.name != "Imperial Officer":
            assert persona_answer(persona.name, 1) in document
    shown_verdict = debate.text_of(VERDICT_TITLE)  # the judge's labels turned back into the personas
    assert "## Bottom line" in shown_verdict
    assert "Persona A" not in shown_verdict
    assert document.count(shown_verdict) == 1
    assert document.index("## Verdict") < document.index(shown_verdict)
    assert "⚠️ **No answer:**" in document
    round_one = document[document.index("## Round 1 of 2") : document.index("## Round 2 of 2")]
    assert "### 🛡️ Imperial Officer\n\n⚠️ **No answer:**" in round_one
    assert "**Stance:** 🔴 Against · 75 %" in round_one
    assert "**Key claim:** Rebel Pilot claims 1." in round_one
    assert document.index("## Round 2 of 2") < document.index("## Verdict") < document.index("## Figures")
    assert (
        f"- **On Discord:** <https://discord.com/channels/{server.guild.id}/{server.general.id}/" in document
    )
    assert "- **Outcome:** ✅ done" in document
    assert "| Wall time |" in document
    assert "Another debate, same channel?" not in document
