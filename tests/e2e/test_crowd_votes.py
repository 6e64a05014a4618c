"""The crowd beside the council: members vote for a debate's most convincing persona with the buttons under
its verdict, one vote each and changeable; the last two fields of the verdict's last embed show the
crowd's ranking (beside the council's tally) and how far they agree, refreshed at most once a second
however many press at once, per debate, after a restart, and in the debate's language whoever votes."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from bot.core.crowd import crowd_fields
from bot.core.personas import DEFAULT_PANEL
from bot.core.stances import Stance
from bot.core.translation import _, speaking_in
from bot.store import debates, make_engine
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    DebateRun,
    final_status,
    run_debate_command,
    running_parley,
    settled_original,
)
from tests.fakes.fake_discord import FakeDiscord, FakeGuild, FakeInteraction, FakeMember, RecordedRequest
from tests.fakes.fake_gemini import FakeGemini, GeminiCall, Outcome, Reply

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]

STANCES = {
    "Rebel Pilot": "for",
    "Imperial Officer": "against",
    "Neutral Citizen": "for",
    "Droid Analyst": "mixed",
}
"""The council ends 🟢 For 2 · 🔴 Against 1 · 🟡 Mixed 1: For leads."""
PILOT, OFFICER, CITIZEN, DROID = range(4)
LABELS = [persona.label for persona in DEFAULT_PANEL]
EDIT_ROUTE = "PATCH /channels/{channel_id}/messages/{message_id}"


class StancedAnswers:
    """Each persona answers with its stance (a structured answer); the verdict names the debate's tag."""

    def __call__(self, call: GeminiCall) -> Outcome:
        if call.system_text.startswith("You chair a structured debate"):
            tag = "[D2]" if "[D2]" in call.user_text else "[D1]"
            return Reply(f"## Bottom line\n{tag} The pilot made the better case.", latency=0.2)
        name = call.system_text.removeprefix("You are ").split(",", 1)[0]
        document = {
            "stance": STANCES[name],
            "confidence": 0.8,
            "key_claim": f"{name} claims.",
            "answer": name,
        }
        return Reply(json.dumps(document), latency=0.1)


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=GEMINI_KEY, responder=StancedAnswers()) as fake:
        yield fake


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(
        token=DISCORD_TOKEN, bucket_limits={"messages": (5, 5.0)}, latency_s=(0.05, 0.2), latency_seed=5
    ) as fake:
        yield fake


@pytest.fixture
def guild(discord_fake: FakeDiscord) -> FakeGuild:
    return discord_fake.add_guild("Yavin IV")


def buttons(message: JSON) -> list[JSON]:
    return [button for row in message.get("components", []) for button in row["components"]]


def controlled(messages: list[JSON], status_message_id: int | None = None) -> JSON:
    """The one message carrying vote buttons (of the debate whose status message is given, in a shared
    channel)."""
    (message,) = [
        message
        for message in messages
        if any(button["custom_id"].startswith("parley:vote:") for button in buttons(message))
        and (
            status_message_id is None
            or message.get("message_reference", {}).get("message_id") == str(status_message_id)
        )
    ]
    return message


def vote_ids(message: JSON) -> list[str]:
    return [
        button["custom_id"] for button in buttons(message) if button["custom_id"].startswith("parley:vote:")
    ]


CROWD, AGREEMENT = "👥 Crowd", "Agreement"


def crowd_of(message: JSON) -> list[JSON]:
    """The crowd's fields: the last two of the verdict's last embed, the first inline beside the
    council's tally (inline too, just before)."""
    fields: list[JSON] = message["embeds"][-1]["fields"]
    assert [field.get("inline") for field in fields[-3:]] == [True, True, False]
    return fields[-2:]


def crowd_text(message: JSON) -> str:
    crowd, _agreement = crowd_of(message)
    assert crowd["name"] == CROWD
    return str(crowd["value"])


def fields_of(embed: JSON) -> dict[str, str]:
    return {field["name"]: field["value"] for field in embed.get("fields", [])}


def assert_the_contract_holds(run: DebateRun) -> None:
    """One titled embed per persona, then the verdict; the thread's last embed carries its figures."""
    assert run.titled() == [*LABELS, "⚖️ Verdict"]
    footer = run.thread_embeds[-1]["footer"]["text"]
    assert all(word in footer for word in ("wall ", "speed-up", "tokens")), footer


def edits_of(discord: FakeDiscord, message_id: str) -> list[RecordedRequest]:
    return [
        request
        for request in discord.requests
        if request.route == EDIT_ROUTE
        and request.path_params.get("message_id") == message_id
        and request.status < 300
    ]


async def press(
    discord: FakeDiscord, message: JSON, position: int, member: FakeMember, locale: str = "en-US"
) -> JSON:
    """``member`` (whose client speaks ``locale``) presses the vote button of the persona at ``position``;
    returns the bot's answer."""
    (custom_id,) = [custom_id for custom_id in vote_ids(message) if custom_id.endswith(f":{position}")]
    interaction = await discord.invoke_component(int(message["id"]), custom_id, member=member, locale=locale)
    ack = await interaction.wait_for_ack()
    assert ack.type == 4
    assert ack.data is not None
    return ack.data


async def shown_when(
    discord: FakeDiscord, channel_id: int, message_id: str, predicate: Callable[[JSON], bool]
) -> JSON:
    """The message once ``predicate`` holds for it, then once no edit followed for two intervals."""
    async with asyncio.timeout(15):
        while True:
            changed = discord.messages_changed()
            (message,) = [m for m in discord.channel_messages(channel_id) if m["id"] == message_id]
            if predicate(message):
                break
            await changed.wait()
    await asyncio.sleep(2.2)  # any refresh still due would land by now
    (message,) = [m for m in discord.channel_messages(channel_id) if m["id"] == message_id]
    return message


def assert_paced(edits: list[RecordedRequest]) -> None:
    """At most one edit a second reaches Discord; none resends the buttons, none can ping."""
    times = [edit.t for edit in edits]
    assert all(later - earlier >= 1.0 for earlier, later in itertools.pairwise(times)), times
    for edit in edits:
        assert "components" not in edit.json, "the buttons stay as they are"
        assert edit.json["allowed_mentions"]["parse"] == []


async def test_members_vote_one_changes_their_mind_and_the_verdict_shows_the_crowd_beside_the_council(
    discord_fake: FakeDiscord, gemini: FakeGemini, guild: FakeGuild
) -> None:
    leia, han, luke = (discord_fake.add_member(guild, name) for name in ("leia", "han", "luke"))
    async with running_parley(discord_fake, gemini):
        run = await run_debate_command(discord_fake, "[D1] Was the Death Star a legitimate target?")
        verdict = controlled(run.thread_messages)
        record = vote_ids(verdict)[0].split(":")[2]

        # One button per persona, rows of five, labelled with the persona; Transcript after them.
        rows = verdict["components"]
        assert [button["label"] for button in rows[0]["components"]] == LABELS
        assert vote_ids(verdict) == [f"parley:vote:{record}:{n}" for n in range(4)]
        assert rows[-1]["components"][-1]["custom_id"] == f"parley:transcript:{record}"
        # Before any vote, the crowd's field invites one, beside the council's tally.
        assert "Nobody has voted yet" in crowd_text(verdict)
        assert fields_of(verdict["embeds"][-1])["Council"] == "🟢 For 2 · 🔴 Against 1 · 🟡 Mixed 1"
        assert_the_contract_holds(run)

        answers = await asyncio.gather(
            press(discord_fake, verdict, PILOT, leia),
            press(discord_fake, verdict, PILOT, han),
            press(discord_fake, verdict, CITIZEN, luke),
        )
        # As soon as their votes show, Luke changes his: that refresh waits out the second since the last.
        async with asyncio.timeout(10):
            while "3 members voted" not in str(controlled(run.thread_messages)["embeds"]):
                await discord_fake.messages_changed().wait()
        changed = await press(discord_fake, verdict, OFFICER, luke)
        final = await shown_when(
            discord_fake, run.thread_id, verdict["id"], lambda m: "🛡️ Imperial Officer" in str(crowd_of(m))
        )
        assert_the_contract_holds(run)

    for answer, label in zip(
        answers, ["🚀 Rebel Pilot", "🚀 Rebel Pilot", "🌍 Neutral Citizen"], strict=True
    ):
        assert answer["flags"] & 64, "only the member who pressed sees the answer"
        assert answer["content"] == f"Your vote: **{label}**. Press another persona to change it."
    assert changed["flags"] & 64
    assert (
        changed["content"] == "You changed your vote from **🌍 Neutral Citizen** to **🛡️ Imperial Officer**."
    )

    ranking = crowd_text(final).split("\n")
    assert ranking[:2] == [
        "**1.** 🚀 Rebel Pilot — 2 votes · 67 % · 🟢 For",
        "**2.** 🛡️ Imperial Officer — 1 vote · 33 % · 🔴 Against",
    ]
    assert ranking[-1].startswith("3 members voted.")
    fields = fields_of(final["embeds"][-1])
    assert list(fields)[-3:] == ["Council", CROWD, AGREEMENT]
    assert fields["Council"] == "🟢 For 2 · 🔴 Against 1 · 🟡 Mixed 1"
    assert fields[AGREEMENT].startswith(
        "67 % of the crowd's votes went to personas who ended 🟢 For, the council's side. "
        "The crowd mostly agrees with the council.\n*Agreement: the share of the crowd's votes"
    )
    # The verdict itself is untouched above the crowd's fields, and the buttons are still there.
    assert final["embeds"][:-1] == verdict["embeds"][:-1]
    assert {**final["embeds"][-1], "fields": []} == {**verdict["embeds"][-1], "fields": []}
    assert final["embeds"][-1]["fields"][:-2] == verdict["embeds"][-1]["fields"][:-2]
    assert final["components"] == verdict["components"]

    edits = edits_of(discord_fake, verdict["id"])
    assert len(edits) == 2, "the three overlapping presses shared one refresh, the change had its own"
    assert_paced(edits)
    assert crowd_of(edits[-1].json) == crowd_of(final), "the last refresh shows the final counts"


async def test_two_verdicts_in_one_thread_voted_on_at_once_each_show_their_own_votes(
    discord_fake: FakeDiscord, gemini: FakeGemini, guild: FakeGuild
) -> None:
    thread = discord_fake.add_thread(guild.text_channel, "council chamber")
    members = [discord_fake.add_member(guild, f"rebel-{n}") for n in range(4)]
    async with running_parley(discord_fake, gemini):
        interactions: list[FakeInteraction] = list(
            await asyncio.gather(
                *(
                    discord_fake.invoke_command("debate", channel=thread, options={"question": question})
                    for question in ("[D1] Was Alderaan avenged?", "[D2] Was Hoth worth defending?")
                )
            )
        )
        async with asyncio.timeout(30):
            for interaction in interactions:
                await final_status(discord_fake, interaction)
        messages = discord_fake.channel_messages(thread.id)
        first, second = (
            controlled(messages, interaction.original_message_id) for interaction in interactions
        )
        assert vote_ids(first) != vote_ids(second)

        # Everyone votes on both at once: the first debate's crowd backs the pilot, the second's the droid.
        await asyncio.gather(
            *(
                press(discord_fake, first, PILOT if n < 3 else OFFICER, member)
                for n, member in enumerate(members)
            ),
            *(press(discord_fake, second, DROID, member) for member in members[:2]),
        )
        shown = [
            await shown_when(
                discord_fake, thread.id, first["id"], lambda m: "4 members voted" in str(m["embeds"])
            ),
            await shown_when(
                discord_fake, thread.id, second["id"], lambda m: "2 members voted" in str(m["embeds"])
            ),
        ]

    one, two = (crowd_text(message).split("\n") for message in shown)
    assert one[:2] == [
        "**1.** 🚀 Rebel Pilot — 3 votes · 75 % · 🟢 For",
        "**2.** 🛡️ Imperial Officer — 1 vote · 25 % · 🔴 Against",
    ]
    assert one[-1].startswith("4 members voted.")
    assert two[0] == "**1.** 🤖 Droid Analyst — 2 votes · 100 % · 🟡 Mixed"
    assert two[-1].startswith("2 members voted.")
    assert fields_of(shown[1]["embeds"][-1])[AGREEMENT].startswith("0 % of the crowd's votes")
    for message in (first, second):
        edits = edits_of(discord_fake, message["id"])
        assert edits
        assert_paced(edits)
    assert [r for r in discord_fake.requests if r.status == 429] == []


async def test_after_a_restart_a_vote_counts_with_the_earlier_ones_and_a_purged_debate_refuses_politely(
    discord_fake: FakeDiscord, gemini: FakeGemini, guild: FakeGuild, tmp_path: Path
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}"
    leia, han = discord_fake.add_member(guild, "leia"), discord_fake.add_member(guild, "han")
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url):
        run = await run_debate_command(discord_fake, "[D1] Was the Death Star a legitimate target?")
        gone: DebateRun = await run_debate_command(discord_fake, "[D2] Was Hoth worth defending?")
        verdict = controlled(run.thread_messages)
        await press(discord_fake, verdict, CITIZEN, leia)
        await shown_when(
            discord_fake, run.thread_id, verdict["id"], lambda m: "1 member voted" in str(m["embeds"])
        )

    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url):  # a new run of the bot
        answer = await press(discord_fake, verdict, DROID, han)
        final = await shown_when(
            discord_fake, run.thread_id, verdict["id"], lambda m: "2 members voted" in str(m["embeds"])
        )
        # The retention purge deleted the other debate meanwhile: its buttons refuse, privately.
        engine = make_engine(database_url)
        try:
            async with engine.begin() as connection:
                gone_record = int(vote_ids(controlled(gone.thread_messages))[0].split(":")[2])
                await connection.execute(delete(debates).where(debates.c.id == gone_record))
        finally:
            await engine.dispose()
        edits_before = len(edits_of(discord_fake, controlled(gone.thread_messages)["id"]))
        refused = await press(discord_fake, controlled(gone.thread_messages), PILOT, leia)
        await asyncio.sleep(1.2)

    assert answer["content"] == "Your vote: **🤖 Droid Analyst**. Press another persona to change it."
    assert crowd_text(final).split("\n")[:2] == [
        "**1.** 🌍 Neutral Citizen — 1 vote · 50 % · 🟢 For",
        "**1.** 🤖 Droid Analyst — 1 vote · 50 % · 🟡 Mixed",
    ]
    assert_paced(edits_of(discord_fake, verdict["id"]))
    assert refused["flags"] & 64
    assert refused["content"] == "This debate no longer exists (it was deleted), so it takes no more votes."
    assert len(edits_of(discord_fake, controlled(gone.thread_messages)["id"])) == edits_before


def vote_answer_in(locale: str, label: str) -> str:
    """What a first vote's private answer says in ``locale``."""
    with speaking_in(locale):
        return _("Your vote: **{persona}**. Press another persona to change it.").format(persona=label)


async def test_a_german_debates_crowd_stays_german_while_each_voter_is_answered_in_their_own_language(
    discord_fake: FakeDiscord, gemini: FakeGemini, guild: FakeGuild
) -> None:
    asker, pierre, akira = (discord_fake.add_member(guild, name) for name in ("hans", "pierre", "akira"))
    async with running_parley(discord_fake, gemini):
        run = await run_debate_command(
            discord_fake, "[D1] War der Todesstern ein legitimes Ziel?", member=asker, locale="de"
        )
        verdict = controlled(run.thread_messages)
        record = vote_ids(verdict)[0].split(":")[2]
        # A French and a Japanese member vote at once; the Japanese one then asks for the transcript.
        french, japanese = await asyncio.gather(
            press(discord_fake, verdict, PILOT, pierre, "fr"),
            press(discord_fake, verdict, OFFICER, akira, "ja"),
        )
        transcript = await discord_fake.invoke_component(
            int(verdict["id"]), f"parley:transcript:{record}", member=akira, locale="ja"
        )
        sent = await settled_original(discord_fake, transcript)
        final = await shown_when(
            discord_fake, run.thread_id, verdict["id"], lambda m: "🛡️ Imperial Officer" in str(crowd_of(m))
        )
        stances = tuple(Stance(STANCES[persona.name]) for persona in DEFAULT_PANEL)
        with speaking_in("de"):
            german = crowd_fields(DEFAULT_PANEL, stances, {PILOT: 1, OFFICER: 1})
        with speaking_in("fr"):
            french_fields = crowd_fields(DEFAULT_PANEL, stances, {PILOT: 1, OFFICER: 1})
        answers = {"fr": vote_answer_in("fr", LABELS[PILOT]), "ja": vote_answer_in("ja", LABELS[OFFICER])}

    # The refresh speaks the debate's language, not the voters'.
    assert crowd_of(final) == german
    assert german != french_fields
    crowd, agreement = crowd_of(final)
    assert crowd["name"] == "👥 Publikum"
    assert "**1.** 🚀 Rebel Pilot — 1 Stimme · 50 % · 🟢 Dafür" in crowd["value"]
    assert agreement["name"] == "Übereinstimmung"
    assert "Pour" not in crowd["value"]
    assert fields_of(final["embeds"][-1])["Gremium"] == "🟢 Dafür 2 · 🔴 Dagegen 1 · 🟡 Gemischt 1"
    # Each voter's private answer speaks their own.
    assert french["flags"] & 64
    assert japanese["flags"] & 64
    assert (
        french["content"]
        == answers["fr"]
        == "Votre vote : **🚀 Rebel Pilot**. Appuyez sur une autre persona pour le changer."
    )
    assert japanese["content"] == answers["ja"]
    assert japanese["content"].startswith("あなたの投票：")
    assert sent["flags"] & 64
    assert sent["content"] == f"討論 #{record} の記録です。"
