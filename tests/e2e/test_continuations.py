"""Another round and Follow-up under a verdict, end to end: pressed after a restart of the bot, what the
fake Gemini was asked, what reached the fake Discord, and the refusals when several members press at once."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.continuations import MAX_CONTINUATIONS
from bot.core.personas import DEFAULT_PANEL
from bot.core.render import VERDICT_TITLE
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    DebateRun,
    final_status,
    persona_calls,
    run_debate_command,
    running_parley,
    settled_original,
    verdict_calls,
)
from tests.fakes.fake_discord import FakeDiscord, FakeGuild, FakeInteraction, FakeMember
from tests.fakes.fake_gemini import FakeGemini, GeminiCall, Outcome, Reply

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]
QUESTION = "Should the Rebellion have negotiated with the Empire?"
FOLLOW_UP = "And what if the Emperor had offered a truce first?"
NAMES = [persona.name for persona in DEFAULT_PANEL]
VERDICT_SYSTEM = "You chair a structured debate"
WAIT_S = 30


def persona_name(call: GeminiCall) -> str:
    return call.system_text.removeprefix("You are ").split(",", 1)[0]


def round_of(call: GeminiCall) -> int:
    found = re.search(r"This is round (\d+)\.", call.user_text)
    return int(found[1]) if found else 1


def answer_text(name: str, round_number: int, follow_up: bool = False) -> str:
    topic = "truce" if follow_up else "negotiation"
    return f"Voice {NAMES.index(name)} on {topic}, round {round_number}: a point only this answer makes."


class Answers:
    """Each persona answers a text naming it, its round and whether it answers a follow-up; the Neutral
    Citizen turns against in round 3; each verdict says which it is."""

    def __init__(self) -> None:
        self.verdicts = 0
        self.slow_from_round: int | None = None
        """Rounds from this one on answer only after 10 s (a round to stop)."""

    def __call__(self, call: GeminiCall) -> Outcome:
        if VERDICT_SYSTEM in call.system_text:
            self.verdicts += 1
            return Reply(f"## Bottom line\nVerdict number {self.verdicts}: talk first, fight after.")
        name, number = persona_name(call), round_of(call)
        follow_up = "follows up an earlier debate" in call.user_text
        stance = "against" if name == "Neutral Citizen" and number >= 3 else "for"
        text = answer_text(name, number, follow_up)
        body = {"stance": stance, "confidence": 0.7, "key_claim": f"Claim {number}", "answer": text}
        slow = self.slow_from_round is not None and number >= self.slow_from_round
        return Reply(json.dumps(body), latency=10 if slow else 0.05)


@pytest.fixture
def answers() -> Answers:
    return Answers()


@pytest.fixture
async def gemini(answers: Answers) -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=GEMINI_KEY, responder=answers) as fake:
        yield fake


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=DISCORD_TOKEN) as fake:
        yield fake


@pytest.fixture
def guild(discord_fake: FakeDiscord) -> FakeGuild:
    return discord_fake.add_guild("Yavin IV")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}"


def buttons(message: JSON) -> list[JSON]:
    return [button for row in message.get("components", []) for button in row["components"]]


def verdict_with_controls(messages: list[JSON]) -> list[JSON]:
    """The messages carrying a verdict's controls, oldest first."""
    return [
        message
        for message in messages
        if any(button["custom_id"].startswith("parley:transcript:") for button in buttons(message))
    ]


def control(message: JSON, prefix: str) -> str:
    (custom_id,) = [str(b["custom_id"]) for b in buttons(message) if b["custom_id"].startswith(prefix)]
    return custom_id


def record_of(message: JSON) -> int:
    return int(control(message, "parley:transcript:").removeprefix("parley:transcript:"))


def verdict_texts(messages: list[JSON]) -> list[str]:
    return [
        embed["description"]
        for message in messages
        for embed in message.get("embeds", [])
        if embed.get("title") == VERDICT_TITLE
    ]


async def finished(discord: FakeDiscord, interaction: FakeInteraction) -> str:
    async with asyncio.timeout(WAIT_S):
        return await final_status(discord, interaction)


async def press(discord: FakeDiscord, message: JSON, prefix: str, member: FakeMember) -> FakeInteraction:
    return await discord.invoke_component(int(message["id"]), control(message, prefix), member=member)


async def first_debate(discord: FakeDiscord, gemini: FakeGemini, database_url: str) -> DebateRun:
    """``/debate rounds:2`` run by one run of the bot, which then stops."""
    async with running_parley(discord, gemini, DATABASE_URL=database_url):
        run = await run_debate_command(discord, QUESTION, options={"rounds": 2})
    assert "✅ done in" in run.status
    return run


def persona_calls_since(gemini: FakeGemini, index: int) -> list[GeminiCall]:
    return [call for call in persona_calls(gemini) if call.index >= index]


def replies_to(message: JSON, status_id: int | None) -> bool:
    return (message.get("message_reference") or {}).get("message_id") == str(status_id)


async def test_another_round_after_a_restart_holds_every_earlier_round_and_posts_a_new_verdict(
    discord_fake: FakeDiscord, gemini: FakeGemini, guild: FakeGuild, database_url: str
) -> None:
    leia = discord_fake.add_member(guild, "leia")
    run = await first_debate(discord_fake, gemini, database_url)
    (root_verdict,) = verdict_with_controls(run.thread_messages)
    root = record_of(root_verdict)
    assert control(root_verdict, "parley:round:") == f"parley:round:{root}"
    assert control(root_verdict, "parley:followup:") == f"parley:followup:{root}"
    *_votes, actions = root_verdict["components"]  # the vote buttons' rows, then the actions
    assert [button["emoji"]["name"] for button in actions["components"]] == ["🔁", "💬", "📜"]
    assert [button["label"] for button in actions["components"]] == [
        "Another round",
        "Follow-up",
        "Transcript",
    ]
    calls_before = len(gemini.calls)

    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url):  # a new run of the bot
        pressed = await press(discord_fake, root_verdict, "parley:round:", leia)
        status = await finished(discord_fake, pressed)
        assert "✅ done in" in status
        assert status.startswith(f"**Another round of #{root}:** {QUESTION}")
        assert pressed.original_message is not None
        assert int(pressed.original_message["channel_id"]) == run.thread_id, "the round runs in the thread"

        new_calls = persona_calls_since(gemini, calls_before)
        assert sorted(persona_name(call) for call in new_calls) == sorted(NAMES), "one request per persona"
        for call in new_calls:
            assert round_of(call) == 3
            assert QUESTION in call.user_text
            for name in NAMES:
                for number in (1, 2):
                    assert answer_text(name, number) in call.user_text, (persona_name(call), name, number)
            assert "<reply>" in call.user_text
        (judge,) = [call for call in verdict_calls(gemini) if call.index >= calls_before]
        assert answer_text("Neutral Citizen", 3) in judge.user_text
        assert not any(name in judge.user_text for name in NAMES), "the judge reads the answers unnamed"
        assert "stance over the rounds: for → against" in judge.user_text

        messages = run.thread_messages
        both = verdict_with_controls(messages)
        assert len(both) == 2
        newest = both[-1]
        continuation = record_of(newest)
        assert continuation != root
        assert control(newest, "parley:round:") == f"parley:round:{continuation}"
        assert replies_to(newest, pressed.original_message_id), "the verdict replies to its status line"
        round_three = [
            embed
            for message in messages
            if replies_to(message, pressed.original_message_id)
            for embed in message.get("embeds", [])
            if any(field["name"] == "Round" for field in embed.get("fields", []))
        ]
        assert {field["value"] for e in round_three for field in e["fields"] if field["name"] == "Round"} == {
            "3 of 3"
        }
        changed = [
            field["value"]
            for embed in newest["embeds"]
            for field in embed.get("fields", [])
            if field["name"] == "Changed their mind"
        ]
        (moved,) = changed
        assert moved.endswith("Neutral Citizen: for → against")
        verdicts = verdict_texts(messages)
        assert "Verdict number 1" in verdicts[0]
        assert "Verdict number 2" in verdicts[-1]

        transcript = await press(discord_fake, newest, "parley:transcript:", leia)
        reply = await settled_original(discord_fake, transcript)
        (attachment,) = reply["attachments"]
        assert attachment["filename"] == f"debate-{continuation}.md"
        document = discord_fake.uploaded_file(attachment["url"]).decode()

        listed = await discord_fake.invoke_command("debates history", guild=guild, member=leia)
        await listed.wait_for_ack()
        (page,) = (await settled_original(discord_fake, listed))["embeds"]
    newest_line, root_line = page["description"].split("\n")
    assert newest_line.startswith(f"[#{continuation} · ")
    assert f" · 🔁 continues #{root} (another round) · <@{leia.id}> · 3 rounds · ✅ done" in newest_line
    assert root_line.startswith(f"[#{root} · ")
    assert "continues" not in root_line
    for name in NAMES:
        for number in (1, 2, 3):
            assert answer_text(name, number) in document
    for text in verdicts:
        assert text.split("\n")[-1] in document
    assert document.index(f"# Debate #{root}") < document.index(f"# Debate #{continuation} · another round")
    assert document.index("## Round 2 of 2") < document.index("## Round 3 of 3")


async def test_two_members_pressing_another_round_at_once_run_one_round_and_a_later_press_is_pointed_on(
    discord_fake: FakeDiscord, gemini: FakeGemini, guild: FakeGuild, database_url: str
) -> None:
    leia = discord_fake.add_member(guild, "leia")
    han = discord_fake.add_member(guild, "han")
    run = await first_debate(discord_fake, gemini, database_url)
    (root_verdict,) = verdict_with_controls(run.thread_messages)
    calls_before = len(gemini.calls)
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url):
        presses = await asyncio.gather(
            press(discord_fake, root_verdict, "parley:round:", leia),
            press(discord_fake, root_verdict, "parley:round:", han),
        )
        acks = [await pressed.wait_for_ack() for pressed in presses]
        (ran,) = [pressed for pressed, ack in zip(presses, acks, strict=True) if ack.type == 5]
        (refused,) = [pressed for pressed in presses if pressed is not ran]
        refusal = await settled_original(discord_fake, refused)
        assert refusal["flags"] & 64, "the refusal is private"
        assert "already asked for" in refusal["content"]
        assert "✅ done in" in await finished(discord_fake, ran)
        rounds = persona_calls_since(gemini, calls_before)
        assert len(rounds) == len(NAMES), "exactly one round ran"

        late = await press(discord_fake, root_verdict, "parley:round:", han)
        refusal = await settled_original(discord_fake, late)
        assert refusal["flags"] & 64
        assert ran.original_message_id is not None
        link = f"https://discord.com/channels/{guild.id}/{run.thread_id}/{ran.original_message_id}"
        assert link in refusal["content"], "the refusal points to the newest verdict"
        assert len(gemini.calls) - calls_before == len(NAMES) + 1, (
            "nothing else was asked: 4 personas, 1 verdict"
        )


async def test_a_follow_up_carries_the_debate_as_context_and_two_members_may_follow_up_at_once(
    discord_fake: FakeDiscord, gemini: FakeGemini, guild: FakeGuild, database_url: str
) -> None:
    leia = discord_fake.add_member(guild, "leia")
    han = discord_fake.add_member(guild, "han")
    run = await first_debate(discord_fake, gemini, database_url)
    (root_verdict,) = verdict_with_controls(run.thread_messages)
    (root_verdict_text,) = verdict_texts(run.thread_messages)
    calls_before = len(gemini.calls)
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url):
        shown = [
            await press(discord_fake, root_verdict, "parley:followup:", member) for member in (leia, han)
        ]
        for pressed in shown:
            ack = await pressed.wait_for_ack()
            assert ack.type == 9, "the button answers with the form"
            modal = discord_fake.modals[pressed.id]
            assert modal["custom_id"] == f"parley:followup-form:{record_of(root_verdict)}"
        questions = (FOLLOW_UP, "And if the Death Star had never been built?")
        submissions = await asyncio.gather(
            *(
                discord_fake.submit_modal(pressed, {"followup-question": question})
                for pressed, question in zip(shown, questions, strict=True)
            )
        )
        statuses = await asyncio.gather(*(finished(discord_fake, submission) for submission in submissions))
        assert all("✅ done in" in status for status in statuses)
        root = record_of(root_verdict)
        assert [status.split("\n")[0] for status in statuses] == [
            f"**Follow-up to #{root}:** {question}" for question in questions
        ]

        new_calls = persona_calls_since(gemini, calls_before)
        assert len(new_calls) == 2 * len(NAMES)
        for call in new_calls:
            name = persona_name(call)
            assert QUESTION in call.user_text
            assert any(question in call.user_text for question in questions)
            own = call.user_text.split("Your final answer there")[1].split("</reply>")[0]
            assert answer_text(name, 2) in own, "its own final answer, marked as its own"
            for other in NAMES:
                assert answer_text(other, 2) in call.user_text
            assert root_verdict_text.split("\n")[-1] in call.user_text
            assert "<verdict>" in call.user_text
        judges = [call for call in verdict_calls(gemini) if call.index >= calls_before]
        assert len(judges) == 2
        for judge in judges:
            assert QUESTION in judge.user_text
            assert "The earlier debate's verdict" in judge.user_text
            assert not any(name in judge.user_text for name in NAMES), "the context is anonymised too"

        with_controls = verdict_with_controls(run.thread_messages)
        assert len(with_controls) == 3
        for submission in submissions:
            (answered,) = [m for m in with_controls if replies_to(m, submission.original_message_id)]
            assert answered["components"], "each follow-up's verdict has its own controls"
            assert record_of(answered) != record_of(root_verdict)


async def test_a_refused_follow_up_hands_the_typed_question_back_and_nothing_runs(
    discord_fake: FakeDiscord, gemini: FakeGemini, guild: FakeGuild, database_url: str
) -> None:
    leia = discord_fake.add_member(guild, "leia")
    run = await first_debate(discord_fake, gemini, database_url)
    (root_verdict,) = verdict_with_controls(run.thread_messages)
    calls_before = len(gemini.calls)
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url):
        pressed = await press(discord_fake, root_verdict, "parley:followup:", leia)
        await pressed.wait_for_ack()
        submission = await discord_fake.submit_modal(pressed, {"followup-question": "   \n  "})
        ack = await submission.wait_for_ack()
        assert ack.type == 4
        assert ack.data is not None
        assert ack.data["flags"] & 64
        assert "The question is empty" in ack.data["content"]
        assert "to paste again" in ack.data["content"]
    assert len(gemini.calls) == calls_before


async def test_a_chain_takes_at_most_the_allowed_continuations(
    discord_fake: FakeDiscord, gemini: FakeGemini, guild: FakeGuild, database_url: str
) -> None:
    leia = discord_fake.add_member(guild, "leia")
    run = await first_debate(discord_fake, gemini, database_url)
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url):
        for _ in range(MAX_CONTINUATIONS):
            newest = verdict_with_controls(run.thread_messages)[-1]
            pressed = await press(discord_fake, newest, "parley:round:", leia)
            assert "✅ done in" in await finished(discord_fake, pressed)
        newest = verdict_with_controls(run.thread_messages)[-1]
        calls = len(gemini.calls)
        pressed = await press(discord_fake, newest, "parley:round:", leia)
        refusal = await settled_original(discord_fake, pressed)
    assert refusal["flags"] & 64
    assert f"continued {MAX_CONTINUATIONS} times" in refusal["content"]
    assert len(gemini.calls) == calls
    assert len(verdict_with_controls(run.thread_messages)) == MAX_CONTINUATIONS + 1


async def test_a_stopped_round_gives_its_claim_back_so_another_round_can_be_asked_again(
    discord_fake: FakeDiscord, gemini: FakeGemini, guild: FakeGuild, database_url: str, answers: Answers
) -> None:
    leia = discord_fake.add_member(guild, "leia")
    han = discord_fake.add_member(guild, "han")
    run = await first_debate(discord_fake, gemini, database_url)
    (root_verdict,) = verdict_with_controls(run.thread_messages)
    answers.slow_from_round = 3
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url):
        pressed = await press(discord_fake, root_verdict, "parley:round:", leia)
        async with asyncio.timeout(WAIT_S):
            while not (pressed.original_message or {}).get("components"):
                await discord_fake.messages_changed().wait()
        status_message = pressed.original_message
        assert status_message is not None
        refused = await press(discord_fake, status_message, "parley:stop:", han)
        refusal = await settled_original(discord_fake, refused)
        assert refusal["flags"] & 64, "only who asked for the round (or a moderator) may stop it"
        stop = await press(discord_fake, status_message, "parley:stop:", leia)
        await stop.wait_for_ack()
        assert "⏹️ stopped by Leia" in await finished(discord_fake, pressed)
        assert len(verdict_with_controls(run.thread_messages)) == 1, "no verdict for a stopped round"

        answers.slow_from_round = None
        again = await press(discord_fake, root_verdict, "parley:round:", han)
        assert "✅ done in" in await finished(discord_fake, again)
    assert len(verdict_with_controls(run.thread_messages)) == 2
