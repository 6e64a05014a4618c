"""``python -m bot ask`` in its own process, with only the Gemini settings, against the fake Gemini."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.core.personas import DEFAULT_PANEL, Persona
from bot.core.validation import QUESTION_MAX_LENGTH
from bot.store import Store
from tests.e2e.harness import GEMINI_KEY, PERSONA_MODEL, VERDICT_MODEL, persona_calls, verdict_calls
from tests.fakes.fake_gemini import FakeGemini, GeminiCall, Reply

pytestmark = pytest.mark.e2e

QUESTION = "Was the destruction of the Death Star justified?"
VERDICT = "## Bottom line\nThe council leans towards yes, with the Droid Analyst's caveats."
ASK_WAIT_S = 60


def answer_of(persona: str, round_number: int, question: str = QUESTION) -> str:
    return f"{persona} answers round {round_number} of «{question}»."


def persona_reply(call: GeminiCall) -> Reply:
    """Each persona answers in JSON, saying who it is, which round and which question it answers."""
    name = call.system_text.removeprefix("You are ").split(",")[0]
    round_number = 2 if "round 2" in call.user_text.lower() else 1
    question = next(q for q in (QUESTION, OTHER_QUESTION) if q in call.user_text)
    document = {
        "stance": "for" if "Rebel" in name else "against",
        "confidence": 0.8,
        "key_claim": f"{name} has a claim.",
        "answer": answer_of(name, round_number, question),
    }
    return Reply.json(document, latency=0.2)


OTHER_QUESTION = "Should droids have rights?"


@dataclass
class Finished:
    code: int
    out: str
    err: str


def environment(gemini: FakeGemini, **extra: str) -> dict[str, str]:
    """Only what ``ask`` needs: the Gemini key and where Gemini is (no Discord token at all)."""
    return {
        "GEMINI_API_KEY": gemini.api_key,
        "GEMINI_BASE_URL": gemini.base_url,
        "PERSONA_MODEL": PERSONA_MODEL,
        "VERDICT_MODEL": VERDICT_MODEL,
        **extra,
    }


async def ask(env: dict[str, str], cwd: Path, *arguments: str) -> Finished:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "ask",
        *arguments,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), ASK_WAIT_S)
    assert process.returncode is not None
    return Finished(process.returncode, out.decode(), err.decode())


def scripted(fake: FakeGemini) -> None:
    fake.responder = lambda call: Reply(VERDICT) if call.model == VERDICT_MODEL else persona_reply(call)


async def test_ask_prints_every_persona_and_the_verdict_and_exits_0(tmp_path: Path) -> None:
    async with FakeGemini(api_key=GEMINI_KEY) as gemini:
        scripted(gemini)
        finished = await ask(environment(gemini), tmp_path, QUESTION)
    assert finished.code == 0, finished.err
    assert finished.err == "", "nothing but the debate: no log lines"
    out = finished.out
    assert out.startswith(f"❓ {QUESTION}\n")
    for persona in DEFAULT_PANEL:
        assert persona.label in out
        assert answer_of(persona.name, 1) in out
    assert "🟢 For" in out
    assert "🔴 Against" in out
    assert out.index("⚖️ Verdict") > max(out.index(answer_of(p.name, 1)) for p in DEFAULT_PANEL)
    assert VERDICT in out
    timing = out.strip().splitlines()[-1]
    assert timing.startswith("wall ")
    assert "speed-up" in timing
    assert "tokens" in timing
    assert "\x1b[" not in out, "piped output is plain text"
    assert len(persona_calls(gemini)) == 4
    assert len(verdict_calls(gemini)) == 1


async def test_rounds_2_makes_8_persona_calls_and_shows_both_rounds(tmp_path: Path) -> None:
    async with FakeGemini(api_key=GEMINI_KEY) as gemini:
        scripted(gemini)
        finished = await ask(environment(gemini), tmp_path, QUESTION, "--rounds", "2")
    assert finished.code == 0, finished.err
    assert len(persona_calls(gemini)) == 8
    for persona in DEFAULT_PANEL:
        assert f"{persona.label} · round 2 of 2" in finished.out
        assert answer_of(persona.name, 1) in finished.out
        assert answer_of(persona.name, 2) in finished.out
    round_two = [call for call in persona_calls(gemini) if answer_of("Rebel Pilot", 1) in call.user_text]
    assert len(round_two) == 4, "round 2 reads the Rebel Pilot's first answer"
    assert VERDICT in finished.out


async def test_two_asks_at_once_each_print_their_own_debate_as_one_json_document(tmp_path: Path) -> None:
    async with FakeGemini(api_key=GEMINI_KEY) as gemini:
        scripted(gemini)
        first, second = await asyncio.gather(
            ask(environment(gemini), tmp_path, QUESTION, "--json"),
            ask(environment(gemini), tmp_path, OTHER_QUESTION, "--json", "--preset", "ethics"),
        )
    for finished, question in ((first, QUESTION), (second, OTHER_QUESTION)):
        assert finished.code == 0, finished.err
        document = json.loads(finished.out)
        assert document["question"] == question
        assert document["verdict"]["text"] == VERDICT
        assert document["error"] is None
        assert {answer["text"] for answer in document["answers"]} == {
            answer_of(persona["name"], 1, question) for persona in document["panel"]
        }
        assert all(
            answer["round"] == 1 and answer["stance"] in ("for", "against") for answer in document["answers"]
        )
        assert document["stats"]["tokens"] > 0
        assert document["stats"]["wall_s"] > 0
    assert [p["name"] for p in json.loads(first.out)["panel"]] == [p.name for p in DEFAULT_PANEL]
    assert json.loads(second.out)["panel"] != json.loads(first.out)["panel"]


async def test_guild_debates_with_that_servers_stored_panel(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}"
    panel = (
        Persona("Moff Tarkin", "🎖️", "You are the governor who ordered the Death Star to fire.", 0x555555),
        Persona("Princess Leia", "👑", "You are the princess of Alderaan, who watched it burn.", 0xFFFFFF),
    )
    store = await Store.open(database_url)
    try:
        await store.change_panel(1234, 1, "import", lambda _panel: panel)
    finally:
        await store.close()
    async with FakeGemini(api_key=GEMINI_KEY) as gemini:
        scripted(gemini)
        finished = await ask(
            environment(gemini, DATABASE_URL=database_url), tmp_path, QUESTION, "--guild", "1234"
        )
    assert finished.code == 0, finished.err
    asked = sorted(call.system_text.split(",")[0] for call in persona_calls(gemini))
    assert asked == ["You are Moff Tarkin", "You are Princess Leia"]
    assert answer_of("Moff Tarkin", 1) in finished.out
    assert "Rebel Pilot" not in finished.out


@pytest.mark.parametrize(
    ("env_without", "arguments", "said"),
    [
        ("GEMINI_API_KEY", (QUESTION,), "parley: GEMINI_API_KEY is missing"),
        ("", ("",), "parley: "),
        ("", ("x" * (QUESTION_MAX_LENGTH + 1),), "parley: "),
        ("", (QUESTION, "--rounds", "9"), "parley: "),
    ],
)
async def test_a_refused_configuration_or_question_is_one_line_and_exit_2(
    tmp_path: Path, env_without: str, arguments: tuple[str, ...], said: str
) -> None:
    async with FakeGemini(api_key=GEMINI_KEY) as gemini:
        env = {name: value for name, value in environment(gemini).items() if name != env_without}
        finished = await ask(env, tmp_path, *arguments)
        assert gemini.calls == [], "refused before Gemini was asked anything"
    assert finished.code == 2
    assert finished.out == ""
    assert finished.err.startswith(said)
    assert len(finished.err.strip().splitlines()) == 1, finished.err
