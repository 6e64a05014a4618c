"""Interaction, command and application rules taken from Discord's OpenAPI spec and developer docs.

Spec: github.com/discord/discord-api-spec commit 74fda0fad044407ea280043a03ffc9bc64c4e49e (schemas named in
each test). Docs: discord.com/developers/docs (docs repo commit c98d64bc233833839cf0d8d369e81b77f21ade60).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.http import Route

from tests.fakes.fake_discord import (
    FakeDiscord,
    FakeInteraction,
    RecordedRequest,
    guilds_client,
    running_client,
)

pytestmark = pytest.mark.timeout(30)

Body = Callable[[discord.Interaction], Awaitable[None]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A started fake with one guild."""
    async with FakeDiscord() as running:
        running.add_guild("Parley Test")
        yield running


def leaf(code: str, message: str) -> dict[str, Any]:
    """One ``_errors`` leaf of a 50035 body."""
    return {"_errors": [{"code": code, "message": message}]}


def bad_length(low: int, high: int) -> dict[str, Any]:
    return leaf("BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")


def max_length(limit: int) -> dict[str, Any]:
    return leaf("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


class Harness:
    """A client whose /debate runs a per-test body, keeping what it returned or raised."""

    def __init__(self, body: Body) -> None:
        self.client = guilds_client()
        self.tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(self.client)
        self.errors: list[BaseException] = []
        self.done = asyncio.Event()

        @self.tree.command(name="debate", description="Start a debate")
        async def debate(interaction: discord.Interaction, question: str) -> None:
            try:
                await body(interaction)
            except BaseException as exc:
                self.errors.append(exc)
            finally:
                self.done.set()


async def callback_of(fake: FakeDiscord, inter: FakeInteraction) -> RecordedRequest:
    """The (first) callback request the bot made for ``inter``."""
    return await fake.wait_for_request(
        lambda r: r.route.endswith("/callback") and r.path_params.get("interaction_id") == str(inter.id)
    )


# ---- interaction callback responses -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("respond", "cb_type", "has_resource"),
    [
        (lambda i: i.response.send_message("Opening statements"), 4, True),
        (lambda i: i.response.defer(thinking=True), 5, False),
        (lambda i: i.response.send_modal(discord.ui.Modal(title="Motion").add_item(
            discord.ui.TextInput(label="Motion", custom_id="motion"))), 9, False),
    ],
    ids=["message-4", "deferred-5", "modal-9"],
)  # fmt: skip
async def test_callback_response_has_a_resource_only_for_message_types(
    fake: FakeDiscord,
    respond: Callable[[discord.Interaction], Awaitable[discord.InteractionCallbackResponse[discord.Client]]],
    cb_type: int,
    has_resource: bool,
) -> None:
    # Spec InteractionCallbackResponse/properties/resource: oneOf the responses of types 4, 7 and 12; docs
    # interactions/receiving-and-responding: resource.message "Only present if type is either
    # CHANNEL_MESSAGE_WITH_SOURCE or UPDATE_MESSAGE".
    returned: list[discord.InteractionCallbackResponse[discord.Client]] = []

    async def body(interaction: discord.Interaction) -> None:
        returned.append(await respond(interaction))

    harness = Harness(body)
    async with running_client(fake, harness.client):
        await harness.tree.sync()
        inter = await fake.invoke_command("debate", options={"question": "Why?"})
        await asyncio.wait_for(harness.done.wait(), 10)
        callback = await callback_of(fake, inter)
    assert harness.errors == []
    assert callback.json["type"] == cb_type
    assert callback.status == 200
    answer = callback.response
    assert answer["interaction"]["id"] == str(inter.id)
    assert answer["interaction"]["type"] == 2
    assert "activity_instance_id" not in answer["interaction"]  # only when an Activity was launched
    assert ("resource" in answer) is has_resource
    (response,) = returned
    if has_resource:
        assert answer["resource"]["type"] == cb_type
        assert isinstance(response.resource, discord.InteractionMessage)
        assert response.resource.id == inter.original_message_id
    else:
        assert response.resource is None
    # Types 4 and 5 create the original response message and name it in the callback object.
    if cb_type in (4, 5):
        assert answer["interaction"]["response_message_id"] == str(inter.original_message_id)
        assert answer["interaction"]["response_message_loading"] is (cb_type == 5)
        assert answer["interaction"]["response_message_ephemeral"] is False
    else:
        assert "response_message_id" not in answer["interaction"]


async def test_component_callbacks_update_and_deferred_update(fake: FakeDiscord) -> None:
    guild = next(iter(fake.guilds.values()))

    class Vote(discord.ui.View):
        @discord.ui.button(label="Agree", custom_id="vote:agree")
        async def agree(self, interaction: discord.Interaction, button: discord.ui.Button[Vote]) -> None:
            await interaction.response.edit_message(content="1 vote")

        @discord.ui.button(label="Later", custom_id="vote:later")
        async def later(self, interaction: discord.Interaction, button: discord.ui.Button[Vote]) -> None:
            await interaction.response.defer()

    client = guilds_client()
    async with running_client(fake, client):
        channel = client.get_channel(guild.text_channel.id)
        assert isinstance(channel, discord.TextChannel)
        message = await channel.send("Vote!", view=Vote(timeout=None))
        updated = await fake.invoke_component(message.id, "vote:agree")
        update = await callback_of(fake, updated)
        deferred = await fake.invoke_component(message.id, "vote:later")
        defer = await callback_of(fake, deferred)
    assert (update.json["type"], defer.json["type"]) == (7, 6)
    assert update.response["resource"]["type"] == 7
    assert update.response["resource"]["message"]["content"] == "1 vote"
    assert update.response["interaction"] == {"id": str(updated.id), "type": 3}
    assert defer.response == {"interaction": {"id": str(deferred.id), "type": 3}}


async def test_with_response_follows_the_documented_boolean_query_strings(fake: FakeDiscord) -> None:
    # Docs interactions/receiving-and-responding#create-interaction-response: 204 unless with_response is
    # true; docs reference#boolean-query-strings: True/true/1 and False/false/0.
    release = asyncio.Event()

    async def body(interaction: discord.Interaction) -> None:
        await release.wait()  # leaves the acknowledgement to the raw requests below

    harness = Harness(body)
    async with running_client(fake, harness.client):
        await harness.tree.sync()
        inter = await fake.invoke_command("debate", options={"question": "Why?"})
        url = f"{fake.api_base}/interactions/{inter.id}/{inter.token}/callback"
        async with aiohttp.ClientSession() as http:
            async with http.post(url, params={"with_response": "yes"}, json={"type": 5}) as resp:
                assert resp.status == 400
                assert resp.headers["Content-Type"] == "application/json"
                assert await resp.json() == {
                    "message": "Invalid Form Body",
                    "code": 50035,
                    "errors": {"with_response": leaf("BOOLEAN_TYPE_COERCE", "Value is not a valid boolean.")},
                }
            assert inter.ack is None
            async with http.post(url, params={"with_response": "false"}, json={"type": 5}) as resp:
                assert resp.status == 204
                assert await resp.read() == b""
        release.set()
        await asyncio.wait_for(harness.done.wait(), 10)
    assert inter.ack_type == 5


# ---- modals -------------------------------------------------------------------------------------------


async def test_text_input_value_over_4000_and_label_over_45_are_refused(fake: FakeDiscord) -> None:
    # Spec TextInputComponentForModalRequest: label 1-45, value maxLength 4000; docs components/reference
    # #text-input: "value … max 4000 characters".
    async def body(interaction: discord.Interaction) -> None:
        modal = discord.ui.Modal(title="Motion")
        modal.add_item(discord.ui.TextInput(label="L" * 46, custom_id="motion", default="v" * 4001))
        await interaction.response.send_modal(modal)

    harness = Harness(body)
    async with running_client(fake, harness.client):
        await harness.tree.sync()
        inter = await fake.invoke_command("debate", options={"question": "Why?"})
        await asyncio.wait_for(harness.done.wait(), 10)
    (error,) = harness.errors
    assert isinstance(error, discord.HTTPException)
    assert error.code == 50035
    callback = await callback_of(fake, inter)
    assert callback.response["errors"] == {
        "data": {
            "components": {
                "0": {"components": {"0": {"label": bad_length(1, 45), "value": max_length(4000)}}}
            }
        }
    }
    assert inter.ack is None


async def test_label_component_limits(fake: FakeDiscord) -> None:
    # Spec LabelComponentForModalRequest: label 1-45, description 1-100; TextInputComponentForModalRequest:
    # placeholder maxLength 100, style one of TextInputStyleTypes (1, 2).
    async def body(interaction: discord.Interaction) -> None:
        modal = discord.ui.Modal(title="Motion")
        field: discord.ui.TextInput[discord.ui.Modal] = discord.ui.TextInput(
            custom_id="motion", placeholder="p" * 101
        )
        modal.add_item(discord.ui.Label(text="T" * 46, description="d" * 101, component=field))
        await interaction.response.send_modal(modal)

    harness = Harness(body)
    async with running_client(fake, harness.client):
        await harness.tree.sync()
        inter = await fake.invoke_command("debate", options={"question": "Why?"})
        await asyncio.wait_for(harness.done.wait(), 10)
    assert len(harness.errors) == 1
    callback = await callback_of(fake, inter)
    assert callback.response["errors"] == {
        "data": {
            "components": {
                "0": {
                    "label": bad_length(1, 45),
                    "description": bad_length(1, 100),
                    "component": {"placeholder": max_length(100)},
                }
            }
        }
    }


async def test_modal_components_get_ids_that_the_submission_echoes(fake: FakeDiscord) -> None:
    # Docs components/reference: the Text Input, Label and Action Row interaction response structures carry
    # the component ``id`` Discord assigned ("generated sequentially if left empty").
    submitted: dict[str, str] = {}

    class Motion(discord.ui.Modal, title="Propose a motion"):
        text: discord.ui.TextInput[Motion] = discord.ui.TextInput(label="Motion", custom_id="motion")
        seconder: discord.ui.Label[Motion] = discord.ui.Label(
            text="Seconder", component=discord.ui.TextInput(custom_id="seconder", default="nobody")
        )

        async def on_submit(self, interaction: discord.Interaction) -> None:
            submitted["motion"] = self.text.value
            seconder = self.seconder.component
            assert isinstance(seconder, discord.ui.TextInput)
            submitted["seconder"] = seconder.value
            await interaction.response.send_message("noted", ephemeral=True)

    async def body(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Motion())

    harness = Harness(body)
    async with running_client(fake, harness.client):
        await harness.tree.sync()
        shown = await fake.invoke_command("debate", options={"question": "?"})
        await shown.wait_for_ack()
        submission = await fake.submit_modal(shown, {"motion": "Ban tabs"})
        await submission.wait_for_ack()
    assert harness.errors == []
    assert submitted == {"motion": "Ban tabs", "seconder": "nobody"}
    row, label = submission.payload["data"]["components"]
    assert row == {
        "type": 1,
        "id": 1,
        "components": [{"type": 4, "id": 2, "custom_id": "motion", "value": "Ban tabs"}],
    }
    assert label == {
        "type": 18,
        "id": 3,
        "component": {"type": 4, "id": 4, "custom_id": "seconder", "value": "nobody"},
    }


async def test_response_messages_carry_component_and_modal_interaction_metadata(fake: FakeDiscord) -> None:
    # Spec MessageComponentInteractionMetadataResponse requires interacted_message_id and
    # ModalSubmitInteractionMetadataResponse requires triggering_interaction_metadata; docs
    # resources/message#message-interaction-metadata-object.
    guild = next(iter(fake.guilds.values()))

    class Ask(discord.ui.View):
        @discord.ui.button(label="Reply", custom_id="ask:reply")
        async def reply(self, interaction: discord.Interaction, button: discord.ui.Button[Ask]) -> None:
            await interaction.response.send_message("clicked", ephemeral=True)

    class Note(discord.ui.Modal, title="Note"):
        text: discord.ui.TextInput[Note] = discord.ui.TextInput(label="Note", custom_id="note")

        async def on_submit(self, interaction: discord.Interaction) -> None:
            await interaction.response.send_message("noted", ephemeral=True)

    async def body(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Note())

    harness = Harness(body)
    async with running_client(fake, harness.client):
        await harness.tree.sync()
        channel = harness.client.get_channel(guild.text_channel.id)
        assert isinstance(channel, discord.TextChannel)
        asked = await channel.send("Ask", view=Ask(timeout=None))
        clicked = await fake.invoke_component(asked.id, "ask:reply")
        await clicked.wait_for_ack()
        shown = await fake.invoke_command("debate", options={"question": "?"})
        await shown.wait_for_ack()
        submission = await fake.submit_modal(shown, {"note": "hi"})
        await submission.wait_for_ack()
    click_reply, modal_reply = clicked.original_message, submission.original_message
    assert click_reply is not None
    assert modal_reply is not None
    component_meta = click_reply["interaction_metadata"]
    assert component_meta["type"] == 3
    assert component_meta["interacted_message_id"] == str(asked.id)
    modal_meta = modal_reply["interaction_metadata"]
    assert modal_meta["type"] == 5
    assert modal_meta["triggering_interaction_metadata"]["id"] == str(shown.id)
    assert modal_meta["triggering_interaction_metadata"]["type"] == 2


# ---- autocomplete -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choices", "errors"),
    [
        ([app_commands.Choice(name="long", value="v" * 101)], {"0": {"value": max_length(100)}}),
        ([app_commands.Choice(name="n" * 101, value="v")], {"0": {"name": bad_length(1, 100)}}),
        ([app_commands.Choice(name=f"c{i}", value=f"c{i}") for i in range(26)], max_length(25)),
    ],
    ids=["101-char-value", "101-char-name", "26-choices"],
)
async def test_autocomplete_choice_limits(
    fake: FakeDiscord, choices: list[app_commands.Choice[str]], errors: dict[str, Any]
) -> None:
    # Docs interactions/application-commands (option choice structure): name 1-100 characters, value "up to
    # 100 characters if string"; spec ApplicationCommandOptionStringChoice allows 6000 (stricter docs win);
    # both cap autocomplete results at 25 choices.
    client = guilds_client()
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)

    async def topics(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return choices

    @tree.command(name="topic", description="Pick a topic")
    @app_commands.autocomplete(name=topics)
    async def topic(interaction: discord.Interaction, name: str) -> None:
        raise AssertionError("never invoked")

    async with running_client(fake, client):
        await tree.sync()
        inter = await fake.invoke_autocomplete("topic", focused="name", options={"name": "t"})
        callback = await callback_of(fake, inter)
    assert callback.status == 400
    assert callback.response == {
        "message": "Invalid Form Body",
        "code": 50035,
        "errors": {"data": {"choices": errors}},
    }
    assert inter.ack is None


async def test_autocomplete_result_answer_has_no_resource(fake: FakeDiscord) -> None:
    client = guilds_client()
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)

    async def topics(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name="Tabs", value="t" * 100)]

    @tree.command(name="topic", description="Pick a topic")
    @app_commands.autocomplete(name=topics)
    async def topic(interaction: discord.Interaction, name: str) -> None:
        raise AssertionError("never invoked")

    async with running_client(fake, client):
        await tree.sync()
        inter = await fake.invoke_autocomplete("topic", focused="name", options={"name": "t"})
        callback = await callback_of(fake, inter)
    assert callback.response == {"interaction": {"id": str(inter.id), "type": 4}}
    assert inter.ack_type == 8


# ---- commands -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("don't", True),
        ("l'avis", True),
        ("नमस्ते", True),  # Devanagari vowel signs and virama are \p{sc=Deva}, not \p{L}
        ("สวัสดี", True),
        ("Don't", False),  # a letter with a lower-case form must use it
        ("don’t", False),  # only the ASCII apostrophe
        ("a" * 33, False),
    ],
)
async def test_chat_input_names_follow_the_documented_regex(
    fake: FakeDiscord, name: str, valid: bool
) -> None:
    # Docs interactions/application-commands#application-command-object-application-command-naming:
    # ^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$, lower case where a lower-case variant exists.
    # discord.py's own name check predates the apostrophe, so the payload goes through its HTTP client.
    option = {"type": 3, "name": name, "description": "d"}
    command = {"type": 1, "name": name, "description": "d", "options": [option]}
    client = guilds_client()
    async with running_client(fake, client):
        if valid:
            (stored,) = await client.http.bulk_upsert_global_commands(fake.application_id, payload=[command])
            echoed: dict[str, Any] = dict(stored)
            assert echoed["name"] == name
            assert echoed["options"][0]["name"] == name
            return
        with pytest.raises(discord.HTTPException) as caught:
            await client.http.bulk_upsert_global_commands(fake.application_id, payload=[command])
    assert caught.value.code == 50035
    errors = fake.requests[-1].response["errors"]["0"]
    assert set(errors) == {"name", "options"}
    assert fake.commands() == []


async def test_batch_command_get_returns_localized_strings_unless_asked_for_dictionaries(
    fake: FakeDiscord,
) -> None:
    # Docs interactions/application-commands#retrieving-localized-commands and get-global-application-
    # commands: with_localizations (default false) returns the dictionaries; otherwise name_localized /
    # description_localized for the requester's locale (X-Discord-Locale first).
    command = {
        "type": 1,
        "name": "debate",
        "description": "Start a debate",
        "name_localizations": {"fr": "débat"},
        "description_localizations": {"fr": "Lancer un débat"},
        "options": [
            {
                "type": 3,
                "name": "question",
                "description": "What to debate",
                "name_localizations": {"fr": "question"},
                "required": True,
            }
        ],
    }
    client = guilds_client()
    async with running_client(fake, client):
        await client.http.bulk_upsert_global_commands(fake.application_id, payload=[command])
        (plain,) = await client.http.get_global_commands(fake.application_id)
        (full,) = await client.http.request(
            Route("GET", "/applications/{application_id}/commands", application_id=fake.application_id),
            params={"with_localizations": "true"},
        )
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{fake.api_base}/applications/{fake.application_id}/commands",
                headers={"Authorization": f"Bot {fake.token}", "X-Discord-Locale": "fr"},
            ) as resp,
        ):
            (french,) = await resp.json()
    assert "name_localizations" not in plain
    assert "name_localized" not in plain  # no en-US string was registered
    assert full["name_localizations"] == {"fr": "débat"}
    assert french["name_localized"] == "débat"
    assert french["description_localized"] == "Lancer un débat"
    assert french["options"][0]["name_localized"] == "question"
    assert "description_localizations" not in french["options"][0]


async def test_localizations_use_documented_locales_and_the_name_rules(fake: FakeDiscord) -> None:
    # Docs interactions/application-commands: localization values "follow the same restrictions as" name
    # and description; docs reference#locales lists the accepted keys.
    command = {
        "type": 1,
        "name": "debate",
        "description": "Start a debate",
        "name_localizations": {"fr": "Débat", "xx": "debate"},
        "description_localizations": {"de": "d" * 101},
    }
    client = guilds_client()
    async with running_client(fake, client):
        with pytest.raises(discord.HTTPException) as caught:
            await client.http.bulk_upsert_global_commands(fake.application_id, payload=[command])
        command["name_localizations"] = {"fr": "débat"}
        command["description_localizations"] = {"de": "Eine Debatte beginnen"}
        (stored,) = await client.http.bulk_upsert_global_commands(fake.application_id, payload=[command])
    assert caught.value.code == 50035
    errors = fake.requests[-2].response["errors"]["0"]
    assert errors["name_localizations"]["fr"] == leaf(
        "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
    )
    assert errors["name_localizations"]["xx"]["_errors"][0]["code"] == "BASE_TYPE_CHOICES"
    assert errors["description_localizations"]["de"] == bad_length(1, 100)
    assert dict(stored)["name_localizations"] == {"fr": "débat"}


# ---- application --------------------------------------------------------------------------------------

# Spec PrivateApplicationResponse/required.
APPLICATION_REQUIRED = {
    "id",
    "name",
    "icon",
    "description",
    "type",
    "verify_key",
    "flags",
    "flags_new",
    "redirect_uris",
    "interactions_endpoint_url",
    "role_connections_verification_url",
    "owner",
    "approximate_guild_count",
    "approximate_user_install_count",
    "approximate_user_authorization_count",
    "explicit_content_filter",
    "team",
    "eligible_oauth2_scopes",
}


async def test_application_object_has_every_field_the_spec_requires(fake: FakeDiscord) -> None:
    client = guilds_client()
    async with running_client(fake, client):
        info = await client.application_info()
        apps = [
            await client.http.request(Route("GET", path))
            for path in ("/oauth2/applications/@me", "/applications/@me")
        ]
    assert info.id == fake.application_id
    assert info.verify_key == apps[0]["verify_key"] == apps[1]["verify_key"]
    for app in apps:
        assert set(app) >= APPLICATION_REQUIRED
        assert app["flags_new"] == str(app["flags"])
        assert app["explicit_content_filter"] in (0, 1)
        assert set(app["eligible_oauth2_scopes"]) >= {"bot", "applications.commands"}
        assert app["integration_types_config"]["0"]["oauth2_install_params"] == app["install_params"]
        # Optional strings in the spec (type "string", not nullable): absent rather than null.
        for key in ("terms_of_service_url", "privacy_policy_url", "custom_install_url"):
            assert key not in app


# Spec GuildWithCountsResponse/required (GET /guilds/{guild_id}).
GUILD_REQUIRED = {
    "id",
    "name",
    "icon",
    "description",
    "home_header",
    "splash",
    "discovery_splash",
    "features",
    "banner",
    "owner_id",
    "application_id",
    "region",
    "afk_channel_id",
    "afk_timeout",
    "system_channel_id",
    "system_channel_flags",
    "widget_enabled",
    "widget_channel_id",
    "verification_level",
    "roles",
    "default_message_notifications",
    "mfa_level",
    "explicit_content_filter",
    "max_presences",
    "max_members",
    "max_stage_video_channel_users",
    "max_video_channel_users",
    "vanity_url_code",
    "premium_tier",
    "premium_subscription_count",
    "preferred_locale",
    "rules_channel_id",
    "safety_alerts_channel_id",
    "public_updates_channel_id",
    "premium_progress_bar_enabled",
    "nsfw",
    "nsfw_level",
    "emojis",
    "stickers",
    "incidents_data",
}


async def test_guild_object_has_every_field_the_spec_requires(fake: FakeDiscord) -> None:
    guild_id = next(iter(fake.guilds))
    client = guilds_client()
    async with running_client(fake, client):
        fetched = await client.fetch_guild(guild_id, with_counts=True)
        raw = await client.http.request(
            Route("GET", "/guilds/{guild_id}", guild_id=guild_id), params={"with_counts": "true"}
        )
    assert fetched.approximate_member_count == 2  # the owner and the bot
    assert set(raw) >= GUILD_REQUIRED
    assert isinstance(raw["region"], str)  # spec: {"type": "string"}, not nullable
