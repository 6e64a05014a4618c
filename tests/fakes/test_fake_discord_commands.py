"""Fidelity of command registration and invocation: tree.sync(), schema validation, INTERACTION_CREATE."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import discord
import pytest
from discord import app_commands

from tests.fakes.fake_discord import (
    CommandNotAvailableError,
    CommandNotRegisteredError,
    FakeDiscord,
    InvalidCommandOptionsError,
    Overwrite,
    Permission,
    guilds_client,
    running_client,
)

pytestmark = pytest.mark.timeout(30)

P = Permission


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A started fake with one guild."""
    async with FakeDiscord() as running:
        running.add_guild("Parley Test")
        yield running


def debate_tree(client: discord.Client, seen: dict[str, Any]) -> app_commands.CommandTree[discord.Client]:
    """A tree with a command exercising several option types, and a group."""
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)

    @tree.command(name="debate", description="Start a debate")
    @app_commands.describe(question="What to debate")
    @app_commands.choices(rounds=[app_commands.Choice(name=str(n), value=n) for n in (1, 3, 5)])
    async def debate(
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, 300],
        rounds: int = 3,
        opponent: discord.Member | None = None,
        venue: discord.TextChannel | None = None,
    ) -> None:
        seen.update(
            question=question,
            rounds=rounds,
            opponent=opponent,
            venue=venue,
            app_permissions=interaction.app_permissions.value,
            permissions=interaction.permissions.value,
            user_id=interaction.user.id,
            channel_id=interaction.channel_id,
        )
        await interaction.response.send_message("ok", ephemeral=True)

    admin = app_commands.Group(name="admin", description="Admin tools")

    @admin.command(name="reset", description="Reset state")
    async def reset(interaction: discord.Interaction, hard: bool = False) -> None:
        seen.update(reset_hard=hard)
        await interaction.response.send_message("reset", ephemeral=True)

    tree.add_command(admin)
    return tree


async def test_sync_stores_commands_as_discord_returns_them(fake: FakeDiscord) -> None:
    guild = next(iter(fake.guilds.values()))
    client = guilds_client()
    tree = debate_tree(client, {})
    async with running_client(fake, client):
        synced = await tree.sync()
        assert sorted(c.name for c in synced) == ["admin", "debate"]
        stored = {c["name"]: c for c in fake.commands()}
        debate = stored["debate"]
        assert debate["application_id"] == str(fake.application_id)
        assert debate["type"] == 1
        assert debate["description"] == "Start a debate"
        assert debate["default_member_permissions"] is None
        assert debate["dm_permission"] is True
        assert debate["integration_types"] == [0]
        assert debate["nsfw"] is False
        question, rounds, opponent, venue = debate["options"]
        assert question["type"] == 3
        assert question["required"] is True
        assert (question["min_length"], question["max_length"]) == (1, 300)
        assert "required" not in rounds  # Discord omits a false `required`
        assert [c["value"] for c in rounds["choices"]] == [1, 3, 5]
        assert opponent["type"] == 6
        assert venue["type"] == 7
        assert venue["channel_types"] == [0, 5]
        assert stored["admin"]["options"][0]["type"] == 1
        # Re-sync keeps ids; versions change only when a command changes.
        ids = {c["name"]: (c["id"], c["version"]) for c in fake.commands()}
        await tree.sync()
        assert {c["name"]: (c["id"], c["version"]) for c in fake.commands()} == ids
        # Guild commands are stored separately and carry guild_id.
        tree.copy_global_to(guild=discord.Object(guild.id))
        await tree.sync(guild=discord.Object(guild.id))
        guild_cmds = fake.commands(guild.id)
        assert {c["guild_id"] for c in guild_cmds} == {str(guild.id)}
        assert "dm_permission" not in guild_cmds[0]
        fetched = await tree.fetch_commands()
        assert sorted(c.id for c in fetched) == sorted(int(c["id"]) for c in fake.commands())


def _upper_case_name(cmd: app_commands.Command[Any, ..., Any]) -> None:
    cmd.name = "Debate"


def _long_description(cmd: app_commands.Command[Any, ..., Any]) -> None:
    cmd.description = "x" * 101


def _many_options(cmd: app_commands.Command[Any, ..., Any]) -> None:
    base = cmd._params["question"]
    cmd._params = {f"o{i}": dataclasses.replace(base, name=f"o{i}", _rename=f"o{i}") for i in range(26)}


def _required_after_optional(cmd: app_commands.Command[Any, ..., Any]) -> None:
    base = cmd._params["question"]
    cmd._params = {
        "first": dataclasses.replace(base, name="first", _rename="first", required=False),
        "second": dataclasses.replace(base, name="second", _rename="second", required=True),
    }


@pytest.mark.parametrize(
    ("mutate", "errors"),
    [
        (
            _upper_case_name,
            {
                "0": {
                    "name": {
                        "_errors": [
                            {"code": "APPLICATION_COMMAND_INVALID_NAME", "message": "Command name is invalid"}
                        ]
                    }
                }
            },
        ),
        (
            _long_description,
            {
                "0": {
                    "description": {
                        "_errors": [
                            {
                                "code": "BASE_TYPE_BAD_LENGTH",
                                "message": "Must be between 1 and 100 in length.",
                            }
                        ]
                    }
                }
            },
        ),
        (
            _many_options,
            {
                "0": {
                    "options": {
                        "_errors": [
                            {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 25 or fewer in length."}
                        ]
                    }
                }
            },
        ),
        (
            _required_after_optional,
            {
                "0": {
                    "options": {
                        "1": {
                            "_errors": [
                                {
                                    "code": "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                                    "message": "Required options must be placed before non-required options",
                                }
                            ]
                        }
                    }
                }
            },
        ),
    ],
    ids=["upper-case-name", "101-char-description", "26-options", "required-after-optional"],
)
async def test_sync_rejects_invalid_schema(
    fake: FakeDiscord, mutate: Callable[[app_commands.Command[Any, ..., Any]], None], errors: dict[str, Any]
) -> None:
    client = guilds_client()
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)

    @tree.command(name="debate", description="Start a debate")
    async def debate(interaction: discord.Interaction, question: str) -> None:
        raise AssertionError("never invoked")

    mutate(debate)

    async def upload() -> object:
        if mutate is _many_options:
            # discord.py's CommandSyncFailure formatter cannot walk a list-length error on `options`
            # (it expects only per-index children there), so go one layer down: its HTTP client.
            return await client.http.bulk_upsert_global_commands(
                fake.application_id, payload=[debate.to_dict(tree)]
            )
        return await tree.sync()

    async with running_client(fake, client):
        with pytest.raises(discord.HTTPException) as caught:
            await upload()
    if mutate is not _many_options:
        assert isinstance(caught.value, app_commands.CommandSyncFailure)
    assert caught.value.status == 400
    assert caught.value.code == 50035
    req = fake.requests[-1]
    assert req.route == "PUT /applications/{application_id}/commands"
    assert req.response == {"message": "Invalid Form Body", "code": 50035, "errors": errors}
    assert fake.commands() == []


async def test_duplicate_names_in_bulk_overwrite(fake: FakeDiscord) -> None:
    client = guilds_client()
    async with running_client(fake, client):
        cmd = {"name": "same", "description": "d", "type": 1}
        with pytest.raises(discord.HTTPException) as caught:
            await client.http.bulk_upsert_global_commands(fake.application_id, payload=[cmd, cmd])
    assert caught.value.status == 400
    assert fake.requests[-1].response["errors"] == {
        "1": {
            "_errors": [
                {
                    "code": "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "message": "Application command names must be unique",
                }
            ]
        }
    }


async def test_slash_command_reaches_callback_with_options_and_computed_permissions() -> None:
    base = P.VIEW_CHANNEL | P.SEND_MESSAGES | P.USE_APPLICATION_COMMANDS | P.READ_MESSAGE_HISTORY
    async with FakeDiscord() as fake:
        guild = fake.add_guild("Perms", everyone_permissions=base)
        mods = fake.add_role(guild, "Mods", P.MANAGE_MESSAGES)
        alice = fake.add_member(guild, "alice", roles=[mods])
        bob = fake.add_member(guild, "bob")
        arena = fake.add_channel(
            guild,
            "arena",
            overwrites=[
                Overwrite(id=guild.id, type=0, deny=P.SEND_MESSAGES),  # @everyone: read-only
                Overwrite(id=mods.id, type=0, allow=P.SEND_MESSAGES),  # role allow beats the @everyone deny
                Overwrite(id=alice.id, type=1, allow=P.ADD_REACTIONS, deny=P.MANAGE_MESSAGES),
            ],
        )
        client = guilds_client()
        seen: dict[str, Any] = {}
        tree = debate_tree(client, seen)
        async with running_client(fake, client):
            await tree.sync()
            inter = await fake.invoke_command(
                "debate",
                guild=guild,
                channel=arena,
                member=alice,
                options={
                    "question": "Tabs or spaces?",
                    "rounds": 5,
                    "opponent": bob,
                    "venue": guild.text_channel,
                },
            )
            ack = await inter.wait_for_ack()
            cached = client.get_guild(guild.id)
            assert cached is not None
            discord_py_view = cached.get_channel(arena.id).permissions_for(cached.me)  # type: ignore[union-attr]
        assert ack.type == 4
        assert seen["question"] == "Tabs or spaces?"
        assert seen["rounds"] == 5
        assert isinstance(seen["opponent"], discord.Member)
        assert seen["opponent"].id == bob.id
        assert isinstance(seen["venue"], discord.TextChannel)
        assert seen["venue"].id == guild.text_channel.id
        assert seen["user_id"] == alice.id
        assert seen["channel_id"] == arena.id
        # alice: @everyone base + Mods, then @everyone deny SEND, Mods allow SEND, member allow/deny last.
        assert seen["permissions"] == int(base | P.ADD_REACTIONS)
        # The bot lost SEND_MESSAGES to the @everyone overwrite, and with it (implicitly) embeds/attachments.
        expected_bot = int(
            P.VIEW_CHANNEL
            | P.USE_APPLICATION_COMMANDS
            | P.READ_MESSAGE_HISTORY
            | P.CREATE_PUBLIC_THREADS
            | P.SEND_MESSAGES_IN_THREADS
        )
        assert seen["app_permissions"] == expected_bot == fake.permissions_for(fake.bot_user_id, arena)
        assert discord_py_view.value == expected_bot  # discord.py's own computation from its cache agrees
        payload = inter.payload
        assert payload["type"] == 2
        assert payload["data"]["name"] == "debate"
        assert "guild_id" not in payload["data"]  # a global command
        assert payload["data"]["options"] == [
            {"name": "question", "type": 3, "value": "Tabs or spaces?"},
            {"name": "rounds", "type": 4, "value": 5},
            {"name": "opponent", "type": 6, "value": str(bob.id)},
            {"name": "venue", "type": 7, "value": str(guild.text_channel.id)},
        ]
        assert set(payload["data"]["resolved"]) == {"users", "members", "channels"}
        assert payload["member"]["permissions"] == str(seen["permissions"])
        assert payload["channel"]["permissions"] == str(seen["permissions"])
        assert inter.dispatched_at is not None
        assert inter.created_at <= inter.dispatched_at


async def test_subcommand_invocation(fake: FakeDiscord) -> None:
    client = guilds_client()
    seen: dict[str, Any] = {}
    tree = debate_tree(client, seen)
    async with running_client(fake, client):
        await tree.sync()
        inter = await fake.invoke_command("admin reset", options={"hard": True})
        await inter.wait_for_ack()
    assert seen["reset_hard"] is True
    assert inter.payload["data"]["options"] == [
        {"name": "reset", "type": 1, "options": [{"name": "hard", "type": 5, "value": True}]}
    ]


async def test_invocation_is_checked_against_the_registered_schema(fake: FakeDiscord) -> None:
    client = guilds_client()
    tree = debate_tree(client, {})
    async with running_client(fake, client):
        with pytest.raises(CommandNotRegisteredError, match="never registered"):
            await fake.invoke_command("debate", options={"question": "q"})
        await tree.sync()
        with pytest.raises(CommandNotRegisteredError):
            await fake.invoke_command("debat", options={"question": "q"})
        with pytest.raises(InvalidCommandOptionsError, match="missing required"):
            await fake.invoke_command("debate", options={})
        with pytest.raises(InvalidCommandOptionsError, match="choices"):
            await fake.invoke_command("debate", options={"question": "q", "rounds": 2})
        with pytest.raises(InvalidCommandOptionsError, match="length"):
            await fake.invoke_command("debate", options={"question": "x" * 301})
        with pytest.raises(InvalidCommandOptionsError, match="expects a string"):
            await fake.invoke_command("debate", options={"question": 5})
        with pytest.raises(InvalidCommandOptionsError, match="unknown option"):
            await fake.invoke_command("debate", options={"question": "q", "colour": "red"})
        with pytest.raises(InvalidCommandOptionsError, match="sub-command"):
            await fake.invoke_command("admin")
        assert fake.interactions == {}


async def test_default_member_permissions_hide_command_from_members() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild()
        member = fake.add_member(guild, "carol")
        client = guilds_client()
        tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)

        @tree.command(name="purge", description="Mods only")
        @app_commands.default_permissions(manage_messages=True)
        async def purge(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("done", ephemeral=True)

        async with running_client(fake, client):
            await tree.sync()
            assert fake.commands()[0]["default_member_permissions"] == str(int(P.MANAGE_MESSAGES))
            with pytest.raises(CommandNotAvailableError):
                await fake.invoke_command("purge", member=member)
            owner_call = await fake.invoke_command("purge")  # the owner has every permission
            assert (await owner_call.wait_for_ack()).type == 4
            fake.allow_command(guild, "purge", role_or_user_id=guild.id)  # an admin shows it to @everyone
            member_call = await fake.invoke_command("purge", member=member)
            assert (await member_call.wait_for_ack()).type == 4


async def test_autocomplete_round_trip(fake: FakeDiscord) -> None:
    client = guilds_client()
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)

    async def topics(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=t, value=t) for t in ("tabs", "spaces", "tea") if t.startswith(current)
        ]

    @tree.command(name="topic", description="Pick a topic")
    @app_commands.autocomplete(name=topics)
    async def topic(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(name)

    async with running_client(fake, client):
        await tree.sync()
        inter = await fake.invoke_autocomplete("topic", focused="name", options={"name": "t"})
        ack = await inter.wait_for_ack()
    assert inter.type == 4
    assert inter.payload["data"]["options"] == [{"name": "name", "type": 3, "value": "t", "focused": True}]
    assert ack.type == 8
    assert ack.data == {"choices": [{"name": n, "value": n} for n in ("tabs", "tea")]}


async def test_button_component_interaction(fake: FakeDiscord) -> None:
    guild = next(iter(fake.guilds.values()))
    client = guilds_client()
    clicked: list[int] = []

    class Vote(discord.ui.View):
        @discord.ui.button(label="Agree", custom_id="vote:agree")
        async def agree(self, interaction: discord.Interaction, button: discord.ui.Button[Vote]) -> None:
            clicked.append(interaction.user.id)
            await interaction.response.edit_message(content="1 vote")

    async with running_client(fake, client):
        channel = client.get_channel(guild.text_channel.id)
        assert isinstance(channel, discord.TextChannel)
        message = await channel.send("Vote!", view=Vote(timeout=None))
        inter = await fake.invoke_component(message.id, "vote:agree")
        ack = await inter.wait_for_ack()
    assert clicked == [guild.owner_id]
    assert ack.type == 7
    stored = fake.message(message.id)
    assert stored is not None
    assert stored["content"] == "1 vote"
    assert stored["edited_timestamp"] is not None
