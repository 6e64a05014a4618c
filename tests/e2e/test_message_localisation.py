"""Parley's own words in the reader's language: a debate's public messages speak the debate's language,
private answers the language of the member who gets them; the models' text and the prompts stay as they
are. Several debates in different languages share a channel without their words mixing."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.client import ParleyBot
from bot.core.personas import DEFAULT_PANEL
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    DebateRun,
    final_status,
    persona_calls,
    run,
    running_parley,
    status_of,
)
from tests.fakes.fake_discord import FakeDiscord, FakeInteraction, Permission, RecordedRequest
from tests.fakes.fake_gemini import FakeGemini, GeminiCall, Outcome, Reply

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]
QUESTION = "Was the destruction of the Death Star justified?"
NAMES = [persona.name for persona in DEFAULT_PANEL]
LABELS = [persona.label for persona in DEFAULT_PANEL]
VERDICT_SYSTEM = "You chair a structured debate"
VERDICT_TEXT = "## The crux\nPersona A and Persona B disagree.\n## Bottom line\nPersona C is right."
STANCES = {
    "Rebel Pilot": "for",
    "Imperial Officer": "against",
    "Neutral Citizen": "mixed",
    "Droid Analyst": "for",
}
ORIGINAL_ROUTE = "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original"
MESSAGES_ROUTE = "POST /channels/{channel_id}/messages"
TAG = re.compile(r"\[D\d\]")


def round_of(call: GeminiCall) -> int:
    marker = "This is round "
    return int(call.user_text.split(marker)[1][0]) if marker in call.user_text else 1


def answers(call: GeminiCall) -> Outcome:
    """Structured answers (the Neutral Citizen turns against in round 2), each naming its debate's tag;
    personas take 0.3–0.6 s, the verdict a little."""
    match = TAG.search(call.user_text)
    tag = match.group(0) if match else ""
    if VERDICT_SYSTEM in call.system_text:
        return Reply(f"{tag} {VERDICT_TEXT}", latency=0.2)
    name = call.system_text.removeprefix("You are ").split(",", 1)[0]
    stance = "against" if name == "Neutral Citizen" and round_of(call) > 1 else STANCES[name]
    text = f"{tag} {name} argues, round {round_of(call)}."
    reply = {"stance": stance, "confidence": 0.75, "key_claim": f"{name} claims it.", "answer": text}
    return Reply(json.dumps(reply), latency=0.3 + 0.1 * NAMES.index(name))


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=GEMINI_KEY, responder=answers) as fake:
        yield fake


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=DISCORD_TOKEN, bucket_limits={"messages": (5, 5.0)}) as fake:
        fake.add_guild("Coruscant")
        yield fake


@pytest.fixture
async def parley(discord_fake: FakeDiscord, gemini: FakeGemini) -> AsyncIterator[ParleyBot]:
    async with running_parley(discord_fake, gemini) as bot:
        yield bot


def merged(embeds: list[JSON]) -> list[JSON]:
    """Each titled embed with its untitled continuations' fields and footer."""
    out: list[JSON] = []
    for embed in embeds:
        if embed.get("title"):
            out.append(dict(embed))
        else:
            out[-1].update({key: embed[key] for key in ("fields", "footer") if key in embed})
    return out


def fields_of(embed: JSON) -> dict[str, str]:
    return {field["name"]: field["value"] for field in embed.get("fields", [])}


def status_edits(discord: FakeDiscord, interaction: FakeInteraction) -> list[JSON]:
    """Every accepted edit of a debate's status message, in order."""
    return [
        r.json
        for r in discord.requests
        if r.route == ORIGINAL_ROUTE
        and r.path_params.get("webhook_token") == interaction.token
        and r.status < 300
        and isinstance(r.json, dict)
        and "content" in r.json
    ]


async def debate_ended(discord: FakeDiscord, interaction: FakeInteraction) -> str:
    async with asyncio.timeout(30):
        final = await final_status(discord, interaction)
        await discord.wait_for_request(
            lambda r: (
                r.route == ORIGINAL_ROUTE
                and r.path_params.get("webhook_token") == interaction.token
                and r.status < 300
                and final in str((r.json or {}).get("content", ""))
            ),
            10,
        )
    return final


async def test_a_french_members_debate_speaks_french_in_public_and_asks_the_personas_in_french(
    discord_fake: FakeDiscord, gemini: FakeGemini, parley: ParleyBot
) -> None:
    guild = next(iter(discord_fake.guilds.values()))
    bystander = discord_fake.add_member(guild, "jarjar")
    interaction = await discord_fake.invoke_command(
        "debate", options={"question": QUESTION, "rounds": 2}, locale="fr"
    )
    # A Japanese member presses Stop: the refusal is theirs, in Japanese; the debate goes on in French.
    async with asyncio.timeout(10):
        while not (interaction.original_message or {}).get("components"):
            await discord_fake.messages_changed().wait()
    assert interaction.original_message is not None
    assert interaction.original_message_id is not None
    (row,) = interaction.original_message["components"]
    (button,) = row["components"]
    pressed = await discord_fake.invoke_component(
        interaction.original_message_id, button["custom_id"], member=bystander, locale="ja"
    )
    refused = await pressed.wait_for_ack()
    final = await debate_ended(discord_fake, interaction)

    assert button["label"] == "Arrêter"
    assert refused.data is not None
    assert refused.data["flags"] & 64
    assert refused.data["content"] == "この討論を停止できるのは、質問したメンバーかモデレーターだけです。"

    first, *_rest = status_edits(discord_fake, interaction)
    assert first["content"].endswith("\n⏳ manche 1/2 · 0/4 réponses"), first["content"]
    lines = final.split("\n")
    assert lines[0] == f"**Débat :** {QUESTION}"
    assert lines[1] == "**Panel :** " + " · ".join(LABELS)
    assert re.fullmatch(r"✅ terminé en \d+,\d s", lines[2]), lines[2]

    debate = DebateRun(discord_fake, interaction)
    embeds = merged(debate.thread_embeds)
    personas, verdict = embeds[:-1], embeds[-1]
    assert [embed["title"] for embed in personas] == LABELS * 2
    for index, embed in enumerate(personas):
        fields = fields_of(embed)
        assert fields["Position"].startswith(("🟢 Pour · 75 %", "🔴 Contre · 75 %", "🟡 Mitigé · 75 %"))
        assert fields["Manche"] == ("1 sur 2" if index < 4 else "2 sur 2")
        assert fields["Argument clé"].endswith("claims it."), "the model's words stay as written"
        assert re.search(r"\d+,\d s · [\d\u202f]+ jetons", embed["footer"]["text"]), embed["footer"]
    (changed,) = [fields_of(embed) for embed in personas if "Changement" in fields_of(embed)]
    assert changed["Changement"] == "mitigé → contre"
    assert verdict["title"] == "⚖️ Verdict"
    assert list(fields_of(verdict))[:2] == ["Ont changé d'avis", "Conseil"]
    assert len(fields_of(verdict)) == 4, "then the crowd's two fields"
    assert fields_of(verdict)["Ont changé d'avis"] == f"{LABELS[2]}: mitigé → contre"
    assert fields_of(verdict)["Conseil"] == "🟢 Pour 2 · 🔴 Contre 2"
    footer = verdict["footer"]["text"]
    assert footer.startswith("durée "), footer
    assert "accélération " in footer, footer
    assert "jetons" in footer, footer
    assert "## The crux\n" in verdict["description"], "the verdict is the model's, its headings untouched"

    assert len(persona_calls(gemini)) == 8
    assert len(gemini.calls) == 9
    assert all("French (Français)" in call.system_text for call in gemini.calls)
    assert all(call.system_text.startswith(("You are ", VERDICT_SYSTEM)) for call in gemini.calls), "English"


@pytest.mark.usefixtures("parley")
async def test_refusals_speak_the_language_of_the_member_who_gets_them(discord_fake: FakeDiscord) -> None:
    guild = next(iter(discord_fake.guilds.values()))
    member = discord_fake.add_member(guild, "padawan")
    discord_fake.allow_command(guild, "parley", role_or_user_id=guild.id)

    answers_ = {
        locale: await run(discord_fake, "parley cooldown", member, guild, locale=locale, seconds=5)
        for locale in ("ja", "de", "en-US")
    }
    assert {locale: answer["content"] for locale, answer in answers_.items()} == {
        "ja": "これを行えるのはモデレーターだけです：**サーバー管理** の権限が必要です。",
        "de": "Nur Moderatoren können das tun: Dafür braucht es die Berechtigung **Server verwalten**.",
        "en-US": "Only moderators can do this: it needs the **Manage Server** permission.",
    }
    assert all(answer["flags"] & 64 for answer in answers_.values())

    empty = {
        locale: await run(discord_fake, "debate", member, guild, locale=locale, question="   ")
        for locale in ("ja", "pt-BR", "it")
    }
    assert {locale: answer["content"] for locale, answer in empty.items()} == {
        "ja": "質問が空です。パネルに何か質問してください。",
        "pt-BR": "A pergunta está vazia: pergunte algo ao painel.",
        "it": "The question is empty: ask the panel something.",  # no catalogue: English
    }

    panel = await run(discord_fake, "panel", member, guild, locale="ja")
    (embed,) = panel["embeds"]
    assert embed["title"] == "このサーバーのパネル（既定）"
    assert embed["description"] == "4 人のペルソナが各 /debate に同時に回答し、その後に判定が続きます。"
    assert [field["name"] for field in embed["fields"]] == LABELS, "the personas' own names stay"


def replies_to(discord: FakeDiscord, channel_id: int, interaction: FakeInteraction) -> list[RecordedRequest]:
    """The messages a debate posted in a shared channel: each replies to its status message."""
    status_id = str(interaction.original_message_id)
    return [
        r
        for r in discord.requests
        if r.route == MESSAGES_ROUTE
        and r.path_params.get("channel_id") == str(channel_id)
        and r.status < 300
        and r.response["message_reference"]["message_id"] == status_id
    ]


async def test_two_debates_at_once_in_one_channel_each_speak_their_own_language(
    discord_fake: FakeDiscord, gemini: FakeGemini, parley: ParleyBot
) -> None:
    guild = next(iter(discord_fake.guilds.values()))
    discord_fake.set_bot_permissions(guild.text_channel.id, deny=Permission.CREATE_PUBLIC_THREADS)
    members = [discord_fake.add_member(guild, f"padawan-{n}") for n in range(2)]
    interactions = await asyncio.gather(
        *(
            discord_fake.invoke_command(
                "debate",
                member=member,
                options={"question": f"[D{n}] {QUESTION}", "rounds": 2},
                locale=locale,
            )
            for n, (member, locale) in enumerate(zip(members, ("fr", "de"), strict=True))
        )
    )
    finals = await asyncio.gather(*(debate_ended(discord_fake, interaction) for interaction in interactions))

    words = {
        "fr": {
            "status": "✅ terminé en",
            "debate": "**Débat :**",
            "stance": "Position",
            "round": "Manche",
            "council": "Conseil",
            "footer": "durée ",
            "changed": "mitigé → contre",
        },
        "de": {
            "status": "✅ fertig in",
            "debate": "**Debatte:**",
            "stance": "Haltung",
            "round": "Runde",
            "council": "Gremium",
            "footer": "Gesamt ",
            "changed": "gemischt → dagegen",
        },
    }
    for n, (interaction, final, locale) in enumerate(zip(interactions, finals, ("fr", "de"), strict=True)):
        own, other = words[locale], words["de" if locale == "fr" else "fr"]
        assert final.startswith(own["debate"]), final
        assert own["status"] in final, final
        assert status_of(interaction) == final
        posts = replies_to(discord_fake, guild.text_channel.id, interaction)
        embeds = merged([embed for post in posts for embed in post.json["embeds"]])
        assert [embed["title"] for embed in embeds[:-1]] == LABELS * 2
        assert all(f"[D{n}]" in embed.get("description", "") for embed in embeds), "only its own answers"
        for embed in embeds[:-1]:
            assert {own["stance"], own["round"]} <= set(fields_of(embed)), (locale, fields_of(embed))
            assert not {other["stance"], other["round"]} & set(fields_of(embed))
        assert own["changed"] in json.dumps(embeds, ensure_ascii=False)
        verdict = embeds[-1]
        assert own["council"] in fields_of(verdict), (locale, fields_of(verdict))
        assert verdict["footer"]["text"].startswith(own["footer"])
        assert other["changed"] not in json.dumps(embeds, ensure_ascii=False)
        for edit in status_edits(discord_fake, interaction):
            assert other["debate"] not in edit["content"]
    for tag, language in (("[D0]", "French (Français)"), ("[D1]", "German (Deutsch)")):
        calls = [call for call in gemini.calls if tag in call.user_text]
        assert len(calls) == 9
        assert all(language in call.system_text for call in calls), tag
