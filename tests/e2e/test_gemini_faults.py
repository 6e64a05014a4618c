"""Gemini faults on one persona, end to end: what the real bot makes of each, as it reaches Discord.

Every fault is injected on the Imperial Officer alone through the loopback fake Gemini; the other three
personas and the verdict must land regardless, and the Imperial Officer's embed must say what went wrong.
One bot serves the whole module (starting one costs discord.py's two-second wait for guilds); each test
scripts every persona afresh and reads only the Gemini calls made since it began.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from bot.core.personas import DEFAULT_PANEL
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    DebateRun,
    persona_calls,
    recorded_debate,
    run_debate_command,
    running_parley,
    verdict_calls,
)
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_gemini import FakeGemini, Fault, GeminiCall, Reply

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

QUESTION = "Was the destruction of the Death Star justified?"
REPLIES = {
    "Rebel Pilot": "Alderaan was reason enough. We flew so no other world would burn.",
    "Imperial Officer": "A million contractors died aboard. That was terrorism, not justice.",
    "Neutral Citizen": "Freight prices doubled overnight. Nobody asked us.",
    "Droid Analyst": "Ethically defensible at 73% confidence; strategically decisive.",
}
VERDICT = "On balance justified: the crux is whether a weapon of genocide makes its crew combatants."
VERDICT_SYSTEM = "You chair a structured debate"
VERDICT_TITLE = "⚖️ Verdict"
PERSONA_TIMEOUT_S = 2

FAULTED = "Imperial Officer"
FAULTED_LABEL = "🛡️ Imperial Officer"
OTHERS = [persona for persona in DEFAULT_PANEL if persona.name != FAULTED]
UNHEARD_LINE = re.compile(r"Not heard \(no answer\): Persona [A-D]\.")


def persona_system(name: str) -> str:
    return f"You are {name}, one voice"


def reply_block(text: str, *, cut_off: bool = False) -> re.Pattern[str]:
    """A reply as the anonymised verdict prompt quotes it."""
    note = "; cut off at the length limit" if cut_off else ""
    return re.compile(rf"Persona [A-D] \(stance: unknown{note}\):\n<reply>\n{re.escape(text)}\n</reply>")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=DISCORD_TOKEN) as fake:
        fake.add_guild("Parley Test")
        yield fake


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_gemini() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=GEMINI_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('faults') / 'parley.db'}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def parley(
    discord_fake: FakeDiscord, module_gemini: FakeGemini, database_url: str
) -> AsyncIterator[None]:
    async with running_parley(
        discord_fake, module_gemini, PERSONA_TIMEOUT_S=str(PERSONA_TIMEOUT_S), DATABASE_URL=database_url
    ):
        yield


@dataclass
class Gemini:
    """The module's fake Gemini, seen from one test: its scripts, and only the calls made since it began."""

    fake: FakeGemini
    since: int

    def script(self, system: str, *outcomes: Fault | Reply) -> None:
        self.fake.script(system, *outcomes)

    def persona_calls(self) -> list[GeminiCall]:
        return [call for call in persona_calls(self.fake) if call.index >= self.since]

    def verdict_calls(self) -> list[GeminiCall]:
        return [call for call in verdict_calls(self.fake) if call.index >= self.since]

    def faulted_calls(self) -> list[GeminiCall]:
        return [call for call in self.persona_calls() if persona_system(FAULTED) in call.system_text]


@pytest.fixture
def gemini(module_gemini: FakeGemini, parley: None) -> Gemini:
    """Every persona and the verdict answer normally (later scripts win) until the test says otherwise."""
    for name, text in REPLIES.items():
        module_gemini.script(persona_system(name), Reply(text))
    module_gemini.script(VERDICT_SYSTEM, Reply(VERDICT, chunks=(VERDICT[:20], VERDICT[20:])))
    return Gemini(module_gemini, len(module_gemini.calls))


def footer_of(run: DebateRun, title: str) -> str:
    (embed,) = [embed for embed in run.thread_embeds if embed.get("title") == title]
    return str(embed["footer"]["text"])


def assert_the_others_and_the_verdict_landed(run: DebateRun, gemini: Gemini) -> GeminiCall:
    """The three unfaulted personas show their replies, the verdict follows them and the debate is done;
    returns the one verdict call, which quoted the three replies."""
    for persona in OTHERS:
        assert run.text_of(persona.label) == REPLIES[persona.name], persona.name
    assert sorted(run.titled()[:4]) == sorted(persona.label for persona in DEFAULT_PANEL)
    assert run.titled()[4:] == [VERDICT_TITLE]
    assert run.text_of(VERDICT_TITLE) == VERDICT
    (verdict_call,) = gemini.verdict_calls()
    for persona in OTHERS:
        assert reply_block(REPLIES[persona.name]).search(verdict_call.user_text), persona.name
    assert run.status.splitlines()[-1].startswith("✅ done in "), run.status
    return verdict_call


def assert_unheard(verdict_call: GeminiCall) -> None:
    """The verdict was asked about three replies and told the faulted persona was not heard."""
    assert "The panel's final answers (3):" in verdict_call.user_text
    assert f"{FAULTED_LABEL}:" not in verdict_call.user_text
    assert REPLIES[FAULTED] not in verdict_call.user_text
    assert UNHEARD_LINE.search(verdict_call.user_text)


async def test_a_per_minute_rate_limit_is_waited_out_and_the_reply_lands(
    discord_fake: FakeDiscord, gemini: Gemini
) -> None:
    gemini.script(persona_system(FAULTED), Fault.rate_limited(retry_delay_s=0.5), Reply(REPLIES[FAULTED]))
    run = await run_debate_command(discord_fake, QUESTION)

    limited, answered = gemini.faulted_calls()
    assert (limited.status, answered.status) == (429, 200)
    assert limited.t_responded is not None
    assert answered.t_received - limited.t_responded >= 0.5, "the retry waited for the server's retryDelay"
    assert run.text_of(FAULTED_LABEL) == REPLIES[FAULTED]
    assert footer_of(run, FAULTED_LABEL).endswith(" · 2 attempts")
    verdict_call = assert_the_others_and_the_verdict_landed(run, gemini)
    assert "The panel's final answers (4):" in verdict_call.user_text
    assert reply_block(REPLIES[FAULTED]).search(verdict_call.user_text)
    assert "Not heard" not in verdict_call.user_text


@pytest.mark.parametrize(
    ("fault", "status", "reason"),
    [
        pytest.param(Fault.quota_exhausted_today(), 429, "quota exhausted for today", id="per-day-429"),
        pytest.param(Fault.blocked_prompt(), 200, "blocked by safety filter", id="blocked-prompt"),
        pytest.param(Fault.blocked_reply(), 200, "blocked by safety filter", id="blocked-reply"),
        pytest.param(Fault.recitation(), 200, "blocked for reciting sources", id="recitation"),
        pytest.param(Fault.max_tokens(""), 200, "cut off before writing anything", id="max-tokens-empty"),
    ],
)
async def test_a_fault_not_worth_retrying_is_named_after_one_call(
    discord_fake: FakeDiscord, gemini: Gemini, database_url: str, fault: Fault, status: int, reason: str
) -> None:
    gemini.script(persona_system(FAULTED), fault, Reply(REPLIES[FAULTED]))  # a retry would get the reply
    question = f"{QUESTION} ({reason})"
    run = await run_debate_command(discord_fake, question)

    assert [call.status for call in gemini.faulted_calls()] == [status]
    assert run.text_of(FAULTED_LABEL) == f"⚠️ No answer: {reason}."
    assert_unheard(assert_the_others_and_the_verdict_landed(run, gemini))
    record = await recorded_debate(database_url, question)
    assert record.status == "done"
    assert record.replies[FAULTED] == (None, reason)
    assert {name: record.replies[name] for name in REPLIES if name != FAULTED} == {
        name: (text, None) for name, text in REPLIES.items() if name != FAULTED
    }


async def test_an_overloaded_model_is_retried_within_the_budget_then_named(
    discord_fake: FakeDiscord, gemini: Gemini
) -> None:
    gemini.script(persona_system(FAULTED), Fault.unavailable())
    run = await run_debate_command(discord_fake, QUESTION)

    calls = gemini.faulted_calls()
    assert len(calls) >= 2
    assert {call.status for call in calls} == {503}
    assert run.text_of(FAULTED_LABEL) == "⚠️ No answer: Gemini is overloaded."
    assert footer_of(run, FAULTED_LABEL).endswith(f" · {len(calls)} attempts")
    assert_unheard(assert_the_others_and_the_verdict_landed(run, gemini))


async def test_a_hung_call_times_out_and_the_debate_completes_without_it(
    discord_fake: FakeDiscord, gemini: Gemini
) -> None:
    gemini.script(persona_system(FAULTED), Fault.hang())
    run = await run_debate_command(discord_fake, QUESTION)

    assert [call.status for call in gemini.faulted_calls()] == [None], "one call, never answered"
    assert run.text_of(FAULTED_LABEL) == f"⚠️ No answer: timed out after {PERSONA_TIMEOUT_S} s."
    assert_unheard(assert_the_others_and_the_verdict_landed(run, gemini))
    wall_s = float(run.status.splitlines()[-1].removeprefix("✅ done in ").removesuffix(" s"))
    assert wall_s >= PERSONA_TIMEOUT_S, "the debate waited out the persona's timeout"


async def test_a_reply_cut_off_at_the_length_limit_is_kept_and_marked(
    discord_fake: FakeDiscord, gemini: Gemini
) -> None:
    partial = "We flew in low and"
    gemini.script(persona_system(FAULTED), Fault.max_tokens(partial), Reply(REPLIES[FAULTED]))
    run = await run_debate_command(discord_fake, QUESTION)

    assert [call.status for call in gemini.faulted_calls()] == [200]
    assert run.text_of(FAULTED_LABEL) == f"{partial}\n\n*(cut off)*"
    verdict_call = assert_the_others_and_the_verdict_landed(run, gemini)
    assert "The panel's final answers (4):" in verdict_call.user_text
    assert reply_block(partial, cut_off=True).search(verdict_call.user_text)
    assert "Not heard" not in verdict_call.user_text


async def test_a_failed_verdict_is_named_after_all_four_replies(
    discord_fake: FakeDiscord, gemini: Gemini
) -> None:
    gemini.script(VERDICT_SYSTEM, Fault.quota_exhausted_today(), Reply(VERDICT))
    run = await run_debate_command(discord_fake, QUESTION)

    assert len(gemini.persona_calls()) == 4
    for persona in DEFAULT_PANEL:
        assert run.text_of(persona.label) == REPLIES[persona.name], persona.name
    assert sorted(run.titled()[:4]) == sorted(persona.label for persona in DEFAULT_PANEL)
    assert run.titled()[4:] == [VERDICT_TITLE]
    assert run.text_of(VERDICT_TITLE) == "⚠️ No verdict: quota exhausted for today."
    (verdict_call,) = gemini.verdict_calls()
    assert (verdict_call.method, verdict_call.status) == ("streamGenerateContent", 429)
    assert "The panel's final answers (4):" in verdict_call.user_text
    for persona in DEFAULT_PANEL:
        assert reply_block(REPLIES[persona.name]).search(verdict_call.user_text), persona.name
    assert run.status.splitlines()[-1] == "❌ failed: no verdict (quota exhausted for today)"
