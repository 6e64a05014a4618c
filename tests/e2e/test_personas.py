"""Moderators shape their server's panel from Discord; everyone else is refused; nothing is ever lost."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.client import ParleyBot
from bot.core.panel import StoredPanel
from bot.core.personas import DEFAULT_PANEL, ETHICS_PANEL
from bot.store import Store
from tests.e2e.harness import (
    DISCORD_TOKEN,
    GEMINI_KEY,
    message_payloads,
    persona_calls,
    run,
    run_debate_command,
    running_parley,
    settled_original,
)
from tests.fakes.fake_discord import FakeDiscord, FakeGuild, FakeInteraction, FakeMember, FakeRole
from tests.fakes.fake_gemini import FakeGemini, Reply

pytestmark = pytest.mark.e2e

JUDGE_INSTRUCTIONS = "You are an impartial judge. Weigh the evidence and rule on the law."
DEFAULT_NAMES = [persona.name for persona in DEFAULT_PANEL]


@dataclass
class Server:
    """A guild with a moderator role, a member holding it, and a plain member."""

    guild: FakeGuild
    mods: FakeRole
    moderator: FakeMember
    member: FakeMember

    @property
    def owner(self) -> FakeMember:
        return self.guild.members[self.guild.owner_id]


def make_server(fake: FakeDiscord, name: str) -> Server:
    guild = fake.add_guild(name)
    mods = fake.add_role(guild, "Parley Mods")
    server = Server(
        guild,
        mods,
        fake.add_member(guild, f"mod-{name}", roles=[mods.id]),
        fake.add_member(guild, f"m-{name}"),
    )
    # As a server admin would in Integrations: show the moderator commands to everyone, so that the
    # bot's own runtime check is what stands between members and the panel.
    for command in ("persona", "parley"):
        fake.allow_command(guild, command, role_or_user_id=guild.id)
    return server


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=GEMINI_KEY) as fake:
        fake.script("You are Judge,", Reply("The evidence is clear: guilty as charged."))
        yield fake


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=DISCORD_TOKEN) as fake:
        yield fake


@pytest.fixture
def server(discord_fake: FakeDiscord) -> Server:
    return make_server(discord_fake, "Law Society")


@pytest.fixture
def other(discord_fake: FakeDiscord) -> Server:
    return make_server(discord_fake, "Product Team")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}"


@pytest.fixture
async def parley(
    discord_fake: FakeDiscord, gemini: FakeGemini, server: Server, other: Server, database_url: str
) -> AsyncIterator[ParleyBot]:
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url) as bot:
        yield bot


async def stored_panel(database_url: str, guild: FakeGuild) -> StoredPanel:
    """The panel as the database holds it (a fresh store: no cache between the test and the truth)."""
    store = await Store.open(database_url)
    try:
        return await store.panel(guild.id)
    finally:
        await store.close()


async def click(
    fake: FakeDiscord, interaction_message: dict[str, Any], label: str, member: FakeMember
) -> dict[str, Any]:
    buttons = [c for row in interaction_message["components"] for c in row["components"]]
    (button,) = [b for b in buttons if b.get("label") == label]
    clicked = await fake.invoke_component(int(interaction_message["id"]), button["custom_id"], member=member)
    ack = await clicked.wait_for_ack()
    assert ack.type == 7, ack
    assert ack.data is not None
    return ack.data


async def ask(
    fake: FakeDiscord, command: str, member: FakeMember, guild: FakeGuild, **options: Any
) -> tuple[FakeInteraction, dict[str, Any]]:
    """Invoke a command answered with confirmation buttons; return it and the message holding them."""
    interaction = await fake.invoke_command(command, guild=guild, member=member, options=options)
    ack = await interaction.wait_for_ack()
    assert ack.type == 4
    message = interaction.original_message
    assert message is not None
    return interaction, message


@pytest.mark.usefixtures("parley")
async def test_a_moderator_adds_a_judge_and_the_next_debate_hears_it(
    discord_fake: FakeDiscord, gemini: FakeGemini, server: Server, database_url: str
) -> None:
    reply = await run(
        discord_fake,
        "persona add",
        server.owner,
        server.guild,
        name="Judge",
        emoji="⚖️",
        instructions=JUDGE_INSTRUCTIONS,
        colour="#8E44AD",
    )
    assert reply["flags"] & 64
    assert reply["content"] == "Added **⚖️ Judge**. The panel now has 5 personas."
    panel = await stored_panel(database_url, server.guild)
    assert [p.name for p in panel.personas] == [*DEFAULT_NAMES, "Judge"]

    run_ = await run_debate_command(
        discord_fake, "Is the defendant guilty?", guild=server.guild, member=server.member
    )
    (judge_call,) = [call for call in persona_calls(gemini) if "You are Judge," in call.system_text]
    assert JUDGE_INSTRUCTIONS in judge_call.system_text
    assert run_.text_of("⚖️ Judge") == "The evidence is clear: guilty as charged."
    (judge_embed,) = [e for e in run_.thread_embeds if e.get("title") == "⚖️ Judge"]
    assert judge_embed["color"] == 0x8E44AD


@pytest.mark.usefixtures("parley")
async def test_editing_through_the_modal_changes_the_instructions_used_next(
    discord_fake: FakeDiscord, gemini: FakeGemini, server: Server, database_url: str
) -> None:
    shown = await discord_fake.invoke_command(
        "persona edit", guild=server.guild, member=server.owner, options={"name": "droid analyst"}
    )
    ack = await shown.wait_for_ack()
    assert ack.type == 9
    assert ack.data is not None
    prefilled = {c["custom_id"]: c.get("value") for row in ack.data["components"] for c in row["components"]}
    assert prefilled["persona-name"] == "Droid Analyst"
    assert prefilled["persona-instructions"] == DEFAULT_PANEL[3].instructions
    assert prefilled["persona-colour"] == "#2980B9"

    new_instructions = "You are a protocol droid fluent in six million forms of communication."
    submitted = await discord_fake.submit_modal(shown, {"persona-instructions": new_instructions})
    saved = await submitted.wait_for_ack()
    assert saved.data is not None
    assert saved.data["content"] == "Saved **🤖 Droid Analyst** (instructions changed)."
    assert (await stored_panel(database_url, server.guild)).personas[3].instructions == new_instructions

    await run_debate_command(discord_fake, "Should droids vote?", guild=server.guild)
    (droid_call,) = [call for call in persona_calls(gemini) if "You are Droid Analyst," in call.system_text]
    assert new_instructions in droid_call.system_text


@pytest.mark.usefixtures("parley")
async def test_a_rejected_modal_gives_the_typed_instructions_back(
    discord_fake: FakeDiscord, server: Server, database_url: str
) -> None:
    shown = await discord_fake.invoke_command(
        "persona edit", guild=server.guild, options={"name": "Rebel Pilot"}
    )
    await shown.wait_for_ack()
    typed = "A long, careful rewrite of the pilot's voice that must not be lost."
    submitted = await discord_fake.submit_modal(
        shown, {"persona-instructions": typed, "persona-emoji": "pilot"}
    )
    ack = await submitted.wait_for_ack()
    assert ack.data is not None
    assert ack.data["flags"] & 64
    assert ack.data["content"].startswith("Nothing changed:\nThe emoji must be one emoji")
    assert typed in ack.data["content"]
    assert (await stored_panel(database_url, server.guild)).is_default


MODERATOR_COMMANDS: list[tuple[str, dict[str, Any]]] = [
    ("persona add", {"name": "Judge", "emoji": "⚖️", "instructions": JUDGE_INSTRUCTIONS}),
    ("persona edit", {"name": "Rebel Pilot"}),
    ("persona remove", {"name": "Rebel Pilot"}),
    ("persona reset", {}),
    ("persona preset", {"name": "ethics"}),
    ("persona export", {}),
    ("persona import", {"file": ("panel.json", b'{"version": 1, "personas": []}')}),
    ("parley moderator-role", {}),
    ("parley audit", {}),
]


@pytest.mark.usefixtures("parley")
async def test_members_who_are_not_moderators_are_refused_by_every_subcommand(
    discord_fake: FakeDiscord, server: Server, database_url: str
) -> None:
    await run(discord_fake, "parley moderator-role", server.owner, server.guild, role=server.mods.id)
    for command, options in MODERATOR_COMMANDS:
        reply = await run(discord_fake, command, server.member, server.guild, **options)
        assert reply["ack_type"] == 4, command
        assert reply["flags"] & 64, command
        assert reply["content"] == (
            "Only moderators can do this: it needs the **Manage Server** permission"
            f" or the <@&{server.mods.id}> role."
        ), command
    assert (await stored_panel(database_url, server.guild)).is_default
    store = await Store.open(database_url)
    try:
        assert [entry.action for entry in await store.audit_log(server.guild.id)] == ["moderator-role"]
    finally:
        await store.close()


@pytest.mark.usefixtures("parley")
async def test_the_moderator_role_is_set_by_manage_server_and_then_grants_access(
    discord_fake: FakeDiscord, server: Server, database_url: str
) -> None:
    # Until the role is set, holding it means nothing.
    refused = await run(discord_fake, "persona preset", server.moderator, server.guild, name="ethics")
    assert refused["content"].startswith(
        "Only moderators can do this: it needs the **Manage Server** permission."
    )

    set_role = await run(
        discord_fake, "parley moderator-role", server.owner, server.guild, role=server.mods.id
    )
    assert (
        set_role["content"]
        == f"Members with <@&{server.mods.id}> can now manage Parley's panel and settings here."
    )
    assert set_role["ack_type"] == 5, "acknowledged before the write"

    applied = await run(discord_fake, "persona preset", server.moderator, server.guild, name="ethics")
    assert applied["content"].startswith("Applied the **ethics** panel.")
    assert (await stored_panel(database_url, server.guild)).personas == ETHICS_PANEL

    # The role manages the panel, but only Manage Server decides who holds the keys.
    denied = await run(discord_fake, "parley moderator-role", server.moderator, server.guild)
    assert denied["content"] == "You need the **Manage Server** permission to use this command."
    sent = message_payloads(discord_fake)
    assert sent
    assert all(payload["allowed_mentions"] == {"parse": []} for payload in sent), "no reply can ping"


@pytest.mark.usefixtures("parley")
async def test_one_servers_moderator_cannot_read_or_change_another_servers_panel(
    discord_fake: FakeDiscord, server: Server, other: Server, database_url: str
) -> None:
    await run(discord_fake, "persona preset", other.owner, other.guild, name="stakeholders")
    exported = await discord_fake.invoke_command("persona export", guild=server.guild, member=server.owner)
    await exported.wait_for_ack()
    assert exported.original_message is not None
    (attachment,) = exported.original_message["attachments"]
    document = json.loads(discord_fake.uploaded_file(attachment["url"]))
    assert [p["name"] for p in document["personas"]] == DEFAULT_NAMES
    assert (await stored_panel(database_url, server.guild)).is_default
    assert [p.name for p in (await stored_panel(database_url, other.guild)).personas] == [
        "HR",
        "Legal",
        "Product",
        "Engineering",
    ]
    panel = await run(discord_fake, "panel", server.member, server.guild)
    assert [field["name"] for field in panel["embeds"][0]["fields"]] == [p.label for p in DEFAULT_PANEL]


@pytest.mark.usefixtures("parley")
async def test_remove_and_reset_ask_first_and_only_the_asker_may_answer(
    discord_fake: FakeDiscord, server: Server, database_url: str
) -> None:
    _interaction, question = await ask(
        discord_fake, "persona remove", server.owner, server.guild, name="rebel pilot"
    )
    assert question["content"] == "Remove **🚀 Rebel Pilot** from this server's panel?"
    intruder = await discord_fake.invoke_component(
        int(question["id"]), question["components"][0]["components"][0]["custom_id"], member=server.member
    )
    intruded = await intruder.wait_for_ack()
    assert intruded.data is not None
    assert intruded.data["content"] == "These buttons belong to the moderator who ran the command."
    assert (await stored_panel(database_url, server.guild)).is_default

    done = await click(discord_fake, question, "Remove", server.owner)
    assert done["content"] == "Removed **🚀 Rebel Pilot**."
    assert done["components"] == []
    assert [p.name for p in (await stored_panel(database_url, server.guild)).personas] == DEFAULT_NAMES[1:]

    _interaction, question = await ask(discord_fake, "persona reset", server.owner, server.guild)
    cancelled = await click(discord_fake, question, "Cancel", server.owner)
    assert cancelled["content"] == "Cancelled: nothing changed."
    assert not (await stored_panel(database_url, server.guild)).is_default
    _interaction, question = await ask(discord_fake, "persona reset", server.owner, server.guild)
    reset = await click(discord_fake, question, "Reset", server.owner)
    assert reset["content"].startswith("The panel is back to the default one")
    assert (await stored_panel(database_url, server.guild)).is_default


@pytest.mark.usefixtures("parley")
async def test_import_replaces_the_panel_and_hands_back_the_previous_one(
    discord_fake: FakeDiscord, server: Server, database_url: str
) -> None:
    await run(discord_fake, "persona preset", server.owner, server.guild, name="brainstorm")
    document = {
        "version": 1,
        "personas": [
            {"name": "Judge", "emoji": "⚖️", "instructions": JUDGE_INSTRUCTIONS, "colour": "#8E44AD"},
            {
                "name": "Jury",
                "emoji": "👥",
                "instructions": "Twelve ordinary citizens.",
                "model": "gemini-3.5-flash",
            },
        ],
    }
    interaction = await discord_fake.invoke_command(
        "persona import",
        guild=server.guild,
        member=server.owner,
        options={"file": ("court.json", json.dumps(document).encode())},
    )
    assert (await interaction.wait_for_ack()).type == 5
    reply = await settled_original(discord_fake, interaction)
    assert reply["content"] == (
        "Imported 2 personas from `court.json`. The previous panel is attached, should you want it back."
    )
    (backup,) = reply["attachments"]
    previous = json.loads(discord_fake.uploaded_file(backup["url"]))
    assert [p["name"] for p in previous["personas"]] == ["Optimist", "Critic", "Wild Card", "Pragmatist"]
    panel = (await stored_panel(database_url, server.guild)).personas
    assert [(p.name, p.model) for p in panel] == [("Judge", None), ("Jury", "gemini-3.5-flash")]


BAD_INPUTS: list[tuple[str, dict[str, Any], str]] = [
    ("persona add", {"name": "   ", "emoji": "⚖️", "instructions": JUDGE_INSTRUCTIONS}, "The name is empty."),
    (
        "persona add",
        {"name": "rebel PILOT", "emoji": "⚖️", "instructions": JUDGE_INSTRUCTIONS},
        "There already is a persona called 'Rebel Pilot'; pick another name or edit it.",
    ),
    (
        "persona add",
        {"name": "Judge", "emoji": "judge", "instructions": JUDGE_INSTRUCTIONS},
        "The emoji must be one emoji, like ⚖️ or a server emoji like <:gavel:123…>; got 'judge'.",
    ),
    (
        "persona add",
        {"name": "Judge", "emoji": "⚖️", "instructions": JUDGE_INSTRUCTIONS, "colour": "purple"},
        "The colour must look like #RRGGBB, for example #E67E22; got 'purple'.",
    ),
    (
        "persona add",
        {"name": "Judge", "emoji": "⚖️", "instructions": JUDGE_INSTRUCTIONS, "model": "gpt-9"},
        "The model 'gpt-9' isn't allowed here; choose one of: gemini-3.1-flash-lite, gemini-3.5-flash.",
    ),
    (
        "persona add",
        {"name": "Judge", "emoji": "⚖️", "instructions": "Judge."},
        "The instructions need at least 10 characters: say who this persona is.",
    ),
    ("persona remove", {"name": "Nobody"}, "There is no persona called 'Nobody' on this panel"),
    (
        "persona import",
        {"file": ("p.json", b"{oops")},
        "The file isn't valid JSON (line 1, column 2: Expecting property name enclosed in double quotes).",
    ),
    (
        "persona import",
        {"file": ("p.json", b'{"version": 1, "personas": [], "theme": "dark"}')},
        "• Unknown key 'theme' at the top level.\n• A panel holds 2 to 10 personas; the file has 0.",
    ),
    (
        "persona import",
        {"file": ("p.json", b'["not", "an", "object"]')},
        'The file must hold one JSON object: {"version": 1, "personas": [...]}.',
    ),
    (
        "persona import",
        {"file": ("big.json", b" " * (64 * 1024 + 1))},
        "The file is 64 KiB; the limit is 64 KiB.",
    ),
]


@pytest.mark.usefixtures("parley")
async def test_bad_input_gets_a_clear_message_and_changes_nothing(
    discord_fake: FakeDiscord, server: Server, database_url: str
) -> None:
    for command, options, message in BAD_INPUTS:
        reply = await run(discord_fake, command, server.owner, server.guild, **options)
        assert reply["flags"] & 64, command
        assert reply["content"].startswith(message), (command, reply["content"])
    assert (await stored_panel(database_url, server.guild)).is_default


@pytest.mark.usefixtures("parley")
async def test_a_full_panel_refuses_an_eleventh_and_a_small_one_refuses_to_shrink(
    discord_fake: FakeDiscord, server: Server, database_url: str
) -> None:
    for index in range(6):
        await run(
            discord_fake,
            "persona add",
            server.owner,
            server.guild,
            name=f"Clerk {index}",
            emoji="📎",
            instructions="You keep the court's records in order.",
        )
    eleventh = await run(
        discord_fake,
        "persona add",
        server.owner,
        server.guild,
        name="Clerk 6",
        emoji="📎",
        instructions="You keep the court's records in order.",
    )
    assert eleventh["content"] == "The panel is full (10 personas): remove one before adding another."
    assert len((await stored_panel(database_url, server.guild)).personas) == 10

    await run(
        discord_fake,
        "persona import",
        server.owner,
        server.guild,
        file=(
            "two.json",
            json.dumps(
                {
                    "version": 1,
                    "personas": [
                        {"name": "A", "emoji": "🅰️", "instructions": "You argue for the motion."},
                        {"name": "B", "emoji": "🅱️", "instructions": "You argue against it."},
                    ],
                }
            ).encode(),
        ),
    )
    refused = await run(discord_fake, "persona remove", server.owner, server.guild, name="A")
    assert refused["content"] == "A panel needs at least 2 personas: add another before removing A."
    assert [p.name for p in (await stored_panel(database_url, server.guild)).personas] == ["A", "B"]


@pytest.mark.usefixtures("parley")
async def test_two_moderators_editing_different_personas_at_once_both_persist(
    discord_fake: FakeDiscord, server: Server, database_url: str
) -> None:
    await run(discord_fake, "parley moderator-role", server.owner, server.guild, role=server.mods.id)
    first = await discord_fake.invoke_command(
        "persona edit", guild=server.guild, member=server.owner, options={"name": "Rebel Pilot"}
    )
    second = await discord_fake.invoke_command(
        "persona edit", guild=server.guild, member=server.moderator, options={"name": "Neutral Citizen"}
    )
    await first.wait_for_ack()
    await second.wait_for_ack()
    submissions = await asyncio.gather(
        discord_fake.submit_modal(first, {"persona-instructions": "You flew at Hoth as well."}),
        discord_fake.submit_modal(second, {"persona-instructions": "You run a cantina on Tatooine."}),
    )
    for submission in submissions:
        ack = await submission.wait_for_ack()
        assert ack.data is not None
        assert ack.data["content"].startswith("Saved **")
    panel = (await stored_panel(database_url, server.guild)).personas
    assert panel[0].instructions == "You flew at Hoth as well."
    assert panel[2].instructions == "You run a cantina on Tatooine."


@pytest.mark.usefixtures("parley")
async def test_autocomplete_offers_this_servers_names_and_the_allowed_models(
    discord_fake: FakeDiscord, server: Server
) -> None:
    names = await discord_fake.invoke_autocomplete(
        "persona edit", focused="name", guild=server.guild, options={"name": "AN"}
    )
    ack = await names.wait_for_ack()
    assert ack.type == 8
    assert ack.data is not None
    assert [choice["value"] for choice in ack.data["choices"]] == ["Droid Analyst"]
    models = await discord_fake.invoke_autocomplete(
        "persona add",
        focused="model",
        guild=server.guild,
        options={"name": "J", "emoji": "⚖️", "instructions": "x" * 10, "model": "3.5"},
    )
    ack = await models.wait_for_ack()
    assert ack.data is not None
    assert [choice["value"] for choice in ack.data["choices"]] == ["gemini-3.5-flash"]


@pytest.mark.usefixtures("parley")
async def test_a_debate_can_use_a_built_in_panel_once(
    discord_fake: FakeDiscord, gemini: FakeGemini, server: Server, database_url: str
) -> None:
    run_ = await run_debate_command(
        discord_fake, "Is lying ever right?", guild=server.guild, options={"preset": "ethics"}
    )
    systems = sorted(call.system_text.split(",")[0] for call in persona_calls(gemini))
    assert systems == sorted(f"You are {p.name}" for p in ETHICS_PANEL)
    assert sorted(run_.titled()[:4]) == sorted(p.label for p in ETHICS_PANEL)
    assert (await stored_panel(database_url, server.guild)).is_default


async def test_the_panel_and_its_audit_log_survive_a_restart(
    discord_fake: FakeDiscord, gemini: FakeGemini, server: Server, other: Server, database_url: str
) -> None:
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url):
        await run(discord_fake, "parley moderator-role", server.owner, server.guild, role=server.mods.id)
        await run(
            discord_fake,
            "persona add",
            server.moderator,
            server.guild,
            name="Judge",
            emoji="⚖️",
            instructions=JUDGE_INSTRUCTIONS,
        )
        _interaction, question = await ask(
            discord_fake, "persona remove", server.owner, server.guild, name="Droid Analyst"
        )
        await click(discord_fake, question, "Remove", server.owner)
    async with running_parley(discord_fake, gemini, DATABASE_URL=database_url):
        panel = await run(discord_fake, "panel", server.member, server.guild)
        assert [field["name"] for field in panel["embeds"][0]["fields"]] == [
            "🚀 Rebel Pilot",
            "🛡️ Imperial Officer",
            "🌍 Neutral Citizen",
            "⚖️ Judge",
        ]
        audit = await run(discord_fake, "parley audit", server.moderator, server.guild)
    lines = audit["embeds"][0]["description"].splitlines()
    parsed = [re.fullmatch(r"<t:(\d+):R> <@(\d+)> (.+)", line) for line in lines]
    assert [(int(m[2]), m[3]) for m in parsed if m] == [
        (server.owner.id, "removed 🤖 Droid Analyst"),
        (server.moderator.id, "added ⚖️ Judge"),
        (server.owner.id, f"moderator role set to {server.mods.id}"),
    ]


@pytest.mark.usefixtures("parley")
async def test_buttons_and_the_form_check_the_member_again_when_they_are_used(
    discord_fake: FakeDiscord, server: Server, database_url: str
) -> None:
    await run(discord_fake, "parley moderator-role", server.owner, server.guild, role=server.mods.id)
    _removal, removal = await ask(
        discord_fake, "persona remove", server.moderator, server.guild, name="Rebel Pilot"
    )
    _reset, reset = await ask(discord_fake, "persona reset", server.moderator, server.guild)
    form = await discord_fake.invoke_command(
        "persona edit", guild=server.guild, member=server.moderator, options={"name": "Droid Analyst"}
    )
    assert (await form.wait_for_ack()).type == 9

    # Before the moderator answers, the owner withdraws the moderator role.
    await run(discord_fake, "parley moderator-role", server.owner, server.guild)

    refusal = "Nothing changed: Only moderators can do this: it needs the **Manage Server** permission."
    assert (await click(discord_fake, removal, "Remove", server.moderator))["content"] == refusal
    assert (await click(discord_fake, reset, "Reset", server.moderator))["content"] == refusal
    typed = "A droid who has learnt to argue like a senator."
    submitted = await discord_fake.submit_modal(form, {"persona-instructions": typed})
    ack = await submitted.wait_for_ack()
    assert ack.type == 4
    assert ack.data is not None
    assert ack.data["flags"] & 64
    assert ack.data["content"].startswith(
        "Nothing changed:\nOnly moderators can do this: it needs the **Manage Server** permission.\n"
    )
    assert typed in ack.data["content"], "what they typed is handed back"

    assert (await stored_panel(database_url, server.guild)).is_default
    store = await Store.open(database_url)
    try:
        assert [entry.action for entry in await store.audit_log(server.guild.id)] == [
            "moderator-role",
            "moderator-role",
        ]
    finally:
        await store.close()


SLOW_WRITE_S = 1.0
FIRST_RESPONSE_WINDOW_S = 0.5
"""The fake's window for the first response, shortened from Discord's 3 s so that a slow write outlasts it."""


def slowly(write: Callable[..., Awaitable[Any]], started: list[float]) -> Callable[..., Awaitable[Any]]:
    """``write`` behind a database that takes ``SLOW_WRITE_S``; each start is noted in ``started``."""

    async def slow(*args: Any, **kwargs: Any) -> Any:
        started.append(time.monotonic())
        await asyncio.sleep(SLOW_WRITE_S)
        return await write(*args, **kwargs)

    return slow


async def test_every_write_is_acknowledged_first_so_a_slow_database_never_lets_it_expire(
    discord_fake: FakeDiscord,
    server: Server,
    parley: ParleyBot,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    discord_fake.interaction_deadline_s = FIRST_RESPONSE_WINDOW_S
    started: list[float] = []
    for method in ("change_panel", "set_moderator_role", "update_settings"):
        monkeypatch.setattr(parley.store, method, slowly(getattr(parley.store, method), started))
    two = {
        "version": 1,
        "personas": [
            {"name": "A", "emoji": "🅰️", "instructions": "You argue for the motion."},
            {"name": "B", "emoji": "🅱️", "instructions": "You argue against it."},
        ],
    }
    writes: list[tuple[str, dict[str, Any], str]] = [
        ("persona preset", {"name": "ethics"}, "Applied the **ethics** panel."),
        (
            "persona add",
            {"name": "Judge", "emoji": "⚖️", "instructions": JUDGE_INSTRUCTIONS},
            "Added **⚖️ Judge**",
        ),
        ("persona import", {"file": ("two.json", json.dumps(two).encode())}, "Imported 2 personas"),
        ("parley moderator-role", {"role": server.mods.id}, f"Members with <@&{server.mods.id}>"),
        ("parley cooldown", {"seconds": 45}, "Members now wait 45 s"),
        ("parley max-debates", {"count": 3}, "At most 3 debates"),
        ("parley budget", {"tokens": 90_000}, "This server may now use 90,000 Gemini tokens a day"),
    ]
    for command, options, answer in writes:
        interaction = await discord_fake.invoke_command(
            command, guild=server.guild, member=server.owner, options=options
        )
        ack = await interaction.wait_for_ack()
        assert ack.type == 5, command
        assert ack.data is not None
        assert ack.data["flags"] & 64, command
        reply = await settled_original(discord_fake, interaction)
        assert reply["content"].startswith(answer), (command, reply["content"])
        assert reply["flags"] & 64, command
        assert ack.t < started[-1], f"{command} wrote before it acknowledged"
    assert len(started) == len(writes)
    assert [p.name for p in (await stored_panel(database_url, server.guild)).personas] == ["A", "B"]
    store = await Store.open(database_url)
    try:
        settings = await store.settings(server.guild.id)
    finally:
        await store.close()
    assert (
        settings.moderator_role_id,
        settings.cooldown_s,
        settings.max_debates,
        settings.daily_token_budget,
    ) == (
        server.mods.id,
        45,
        3,
        90_000,
    )
