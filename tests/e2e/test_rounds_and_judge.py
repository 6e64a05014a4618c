"""Stances, rebuttal rounds and the fair judge end to end: what the fake Gemini was asked and what
reached the fake Discord."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.client import ParleyBot
from bot.core.judging import label_for
from bot.core.personas import DEFAULT_PANEL
from bot.store import debates, make_engine
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    PERSONA_MODEL,
    VERDICT_MODEL,
    DebateRun,
    final_status,
    persona_calls,
    run_debate_command,
    running_parley,
    status_of,
    verdict_calls,
)
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_gemini import FakeGemini, Fault, GeminiCall, Outcome, Reply

pytestmark = pytest.mark.e2e

QUESTION = "Was the destruction of the Death Star justified?"
NAMES = [persona.name for persona in DEFAULT_PANEL]
VERDICT_SYSTEM = "You chair a structured debate"
STANCES = {
    "Rebel Pilot": "for",
    "Imperial Officer": "against",
    "Neutral Citizen": "mixed",
    "Droid Analyst": "for",
}


def answer(name: str, round_number: int) -> str:
    return f"{name.split()[0]} argument, round {round_number}."


def structured(stance: str, text: str, confidence: float = 0.75) -> str:
    return json.dumps(
        {"stance": stance, "confidence": confidence, "key_claim": f"Claim: {text}", "answer": text}
    )


def persona_name(call: GeminiCall) -> str:
    return call.system_text.removeprefix("You are ").split(",", 1)[0]


def round_of(call: GeminiCall) -> int:
    marker = "This is round "
    return int(call.user_text.split(marker)[1][0]) if marker in call.user_text else 1


class RoundAnswers:
    """Each persona answers its stance and ``answer(name, round)``; the Neutral Citizen turns against in
    round 2; personas take 0.2–0.5 s, the verdict streams in chunks."""

    def __call__(self, call: GeminiCall) -> Outcome:
        if VERDICT_SYSTEM in call.system_text:
            text = "## The crux\nPersona A and Persona B disagree.\n## Bottom line\nPersona C is right."
            return Reply(text, chunks=(text[:30], text[30:60], text[60:]), chunk_delay=0.05)
        name, number = persona_name(call), round_of(call)
        stance = "against" if name == "Neutral Citizen" and number > 1 else STANCES[name]
        return Reply(structured(stance, answer(name, number)), latency=0.2 + 0.1 * NAMES.index(name))


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=GEMINI_KEY, responder=RoundAnswers()) as fake:
        yield fake


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(
        token=DISCORD_TOKEN, bucket_limits={"messages": (5, 5.0)}, latency_s=(0.05, 0.2), latency_seed=9
    ) as fake:
        fake.add_guild("Parley Test")
        yield fake


@pytest.fixture
async def parley(discord_fake: FakeDiscord, gemini: FakeGemini) -> AsyncIterator[ParleyBot]:
    async with running_parley(discord_fake, gemini) as bot:
        yield bot


def titled_embeds(run: DebateRun) -> list[dict[str, object]]:
    """Each titled embed merged with its untitled continuations (fields and footer come last)."""
    merged: list[dict[str, object]] = []
    for embed in run.thread_embeds:
        if embed.get("title"):
            merged.append(dict(embed))
        else:
            merged[-1]["description"] = str(merged[-1].get("description", "")) + embed.get("description", "")
            merged[-1].update({key: embed[key] for key in ("fields", "footer") if key in embed})
    return merged


def fields_of(embed: dict[str, object]) -> dict[str, str]:
    return {field["name"]: field["value"] for field in embed.get("fields", [])}  # type: ignore[attr-defined]


def too_many_requests(discord: FakeDiscord) -> int:
    return sum(request.status == 429 for request in discord.requests)


async def judge_order_recorded(bot: ParleyBot) -> list[int] | None:
    engine = make_engine(bot.settings.database_url)
    try:
        async with engine.connect() as connection:
            row = (
                await connection.execute(
                    select(debates.c.judge_order, debates.c.verdict_model).order_by(debates.c.id.desc())
                )
            ).first()
    finally:
        await engine.dispose()
    assert row is not None
    return None if row.judge_order is None else [int(index) for index in row.judge_order]


@pytest.mark.usefixtures("parley")
async def test_structured_answers_show_their_stance_and_the_verdict_the_tally(
    discord_fake: FakeDiscord, gemini: FakeGemini
) -> None:
    # Cut off by the length limit inside its answer: 10 characters short of the document's end.
    cut = structured("against", "A million contractors died aboard and")[:-10]
    gemini.script("You are Imperial Officer,", Reply(cut))
    run = await run_debate_command(discord_fake, QUESTION)
    assert run.status.splitlines()[-1].startswith("✅ done in ")
    for call in persona_calls(gemini):
        assert call.generation_config.get("responseMimeType") == "application/json"
        assert "responseJsonSchema" in call.generation_config
    embeds = {str(embed["title"]): embed for embed in titled_embeds(run)}
    imperial = embeds["🛡️ Imperial Officer"]
    # What arrived of the answer is kept, the stance is unknown, and no JSON shows.
    assert imperial["description"] == "A million contractors died ab"
    assert fields_of(imperial) == {"Stance": "❔ Unknown"}
    for persona in DEFAULT_PANEL:
        if persona.name != "Imperial Officer":
            embed = embeds[persona.label]
            assert embed["description"] == answer(persona.name, 1)
            badge = {"for": "🟢 For", "against": "🔴 Against", "mixed": "🟡 Mixed"}[STANCES[persona.name]]
            assert fields_of(embed) == {
                "Stance": f"{badge} · 75 %",
                "Key claim": f"Claim: {answer(persona.name, 1)}",
            }
    assert fields_of(embeds["⚖️ Verdict"])["Council"] == "🟢 For 2 · 🟡 Mixed 1 · ❔ Unknown 1"


@pytest.mark.usefixtures("parley")
async def test_two_rounds_rebut_each_other_and_the_verdict_weighs_the_last(
    discord_fake: FakeDiscord, gemini: FakeGemini
) -> None:
    run = await run_debate_command(discord_fake, QUESTION, options={"rounds": 2})
    assert run.status.splitlines()[-1].startswith("✅ done in ")
    calls = persona_calls(gemini)
    assert sorted(round_of(call) for call in calls) == [1] * 4 + [2] * 4
    for call in (call for call in calls if round_of(call) == 2):
        name = persona_name(call)
        assert (
            f"Your latest answer (stance: {STANCES[name]}):\n<reply>\n{answer(name, 1)}\n</reply>"
            in call.user_text
        )
        for other in NAMES:
            if other != name:
                assert f"<reply>\n{answer(other, 1)}\n</reply>" in call.user_text
        assert call.user_text.count("</reply>") == 4
    # Round 2 starts only when round 1 has ended.
    assert min(c.t_received for c in calls if round_of(c) == 2) >= max(
        c.t_responded or 0 for c in calls if round_of(c) == 1
    )

    embeds = titled_embeds(run)
    assert [str(embed["title"]) for embed in embeds][-1] == "⚖️ Verdict"
    persona_embeds = embeds[:-1]
    assert len(persona_embeds) == 8
    assert [fields_of(embed)["Round"] for embed in persona_embeds] == ["1 of 2"] * 4 + ["2 of 2"] * 4
    citizen_two = next(e for e in persona_embeds[4:] if e["title"] == "🌍 Neutral Citizen")
    assert citizen_two["description"] == answer("Neutral Citizen", 2)
    assert fields_of(citizen_two)["Changed"] == "mixed → against"

    (verdict_call,) = verdict_calls(gemini)
    for name in NAMES:
        assert f"<reply>\n{answer(name, 2)}\n</reply>" in verdict_call.user_text
        assert answer(name, 1) not in verdict_call.user_text
    assert "stance over the rounds: mixed → against" in verdict_call.user_text
    verdict = fields_of(embeds[-1])
    assert verdict["Council"] == "🟢 For 2 · 🔴 Against 2"
    assert verdict["Changed their mind"] == "🌍 Neutral Citizen: mixed → against"
    assert too_many_requests(discord_fake) == 0


async def test_the_judge_sees_no_names_in_an_order_that_changes_and_its_labels_become_names(
    discord_fake: FakeDiscord, gemini: FakeGemini, parley: ParleyBot
) -> None:
    orders = []
    for number in range(4):
        run = await run_debate_command(discord_fake, f"{QUESTION} ({number})")
        call = verdict_calls(gemini)[-1]
        for persona in DEFAULT_PANEL:
            assert persona.name not in call.user_text
            assert persona.name not in call.system_text
            assert persona.emoji not in call.user_text
        order = await judge_order_recorded(parley)
        assert order is not None
        assert sorted(order) == [0, 1, 2, 3]
        # The labels follow the recorded order: Persona A is the first persona read.
        positions = [call.user_text.index(f"<reply>\n{answer(NAMES[index], 1)}") for index in order]
        assert positions == sorted(positions)
        shown = run.text_of("⚖️ Verdict")
        names = [DEFAULT_PANEL[index].label for index in order]
        assert (
            shown == f"## The crux\n{names[0]} and {names[1]} disagree.\n## Bottom line\n{names[2]} is right."
        )
        assert label_for(0) not in shown
        orders.append(tuple(order))
    assert len(set(orders)) > 1, "the reading order is drawn anew for each debate"


async def test_a_failing_verdict_model_hands_the_verdict_to_the_fallback(gemini: FakeGemini) -> None:
    gemini.script(lambda call: call.model == VERDICT_MODEL, Fault.quota_exhausted_today())
    async with (
        FakeDiscord(token=DISCORD_TOKEN) as discord_fake,
        running_parley(discord_fake, gemini, VERDICT_FALLBACK_MODEL=PERSONA_MODEL) as bot,
    ):
        discord_fake.add_guild("Parley Test")
        await asyncio.sleep(0)
        run = await run_debate_command(discord_fake, QUESTION)
        assert run.status.splitlines()[-1].startswith("✅ done in ")
        streamed = [call.model for call in gemini.calls if call.method == "streamGenerateContent"]
        assert streamed == [VERDICT_MODEL, PERSONA_MODEL]
        verdict = titled_embeds(run)[-1]
        assert str(verdict["description"]).startswith("## The crux\n")
        footer = verdict["footer"]["text"]  # type: ignore[index]
        assert footer.endswith(
            f"verdict by the fallback {PERSONA_MODEL}: {VERDICT_MODEL} failed (daily quota exhausted)"
        ) or (f"verdict by the fallback {PERSONA_MODEL}: {VERDICT_MODEL} failed" in footer)
        engine = make_engine(bot.settings.database_url)
        try:
            async with engine.connect() as connection:
                model = (await connection.execute(select(debates.c.verdict_model))).scalar_one()
        finally:
            await engine.dispose()
        assert model == PERSONA_MODEL


async def test_two_three_round_debates_sharing_a_thread_keep_their_order_without_a_429(
    discord_fake: FakeDiscord, gemini: FakeGemini, parley: ParleyBot
) -> None:
    guild = next(iter(discord_fake.guilds.values()))
    thread = discord_fake.add_thread(guild.text_channel, "rebuttals")
    members = [discord_fake.add_member(guild, f"debater-{n}") for n in range(2)]
    interactions = await asyncio.gather(
        *(
            discord_fake.invoke_command(
                "debate", channel=thread, member=member, options={"question": f"{QUESTION} #{n}", "rounds": 3}
            )
            for n, member in enumerate(members)
        )
    )
    async with asyncio.timeout(60):
        await asyncio.gather(*(final_status(discord_fake, interaction) for interaction in interactions))
    assert len(persona_calls(gemini)) == 2 * 3 * 4
    posts = [
        request
        for request in discord_fake.requests
        if request.route == "POST /channels/{channel_id}/messages"
        and request.path_params.get("channel_id") == str(thread.id)
        and request.status < 300
    ]
    for interaction in interactions:
        assert "✅ done in" in status_of(interaction)
        own = [
            post
            for post in posts
            if post.response["message_reference"]["message_id"] == str(interaction.original_message_id)
        ]
        embeds = [embed for post in own for embed in post.json["embeds"] if embed.get("title")]
        assert embeds[-1]["title"] == "⚖️ Verdict"
        rounds = [fields_of(embed)["Round"] for embed in embeds[:-1]]
        assert rounds == ["1 of 3"] * 4 + ["2 of 3"] * 4 + ["3 of 3"] * 4
        assert len(own) < 13, "answers that wait are batched into fewer messages"
    assert too_many_requests(discord_fake) == 0
