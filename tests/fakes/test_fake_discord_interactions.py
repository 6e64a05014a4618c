"""Fidelity of interaction responses: 3 s window, single acknowledgement, original/followups, token expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.webhook.async_ import async_context, interaction_response_params

from tests.fakes.fake_discord import FakeDiscord, guilds_client, running_client, the_guild

pytestmark = pytest.mark.timeout(30)

Body = Callable[[discord.Interaction], Awaitable[None]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A started fake with one guild."""
    async with FakeDiscord() as running:
        running.add_guild("Parley Test")
        yield running


class Harness:
    """A client whose /debate runs a per-test body and records what it raised."""

    def __init__(self, body: Body) -> None:
        self.client = guilds_client()
        self.tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(self.client)
        self.errors: list[BaseException] = []
        self.done = asyncio.Event()
        self.results: dict[str, Any] = {}

        @self.tree.command(name="debate", description="Start a debate")
        async def debate(interaction: discord.Interaction, question: str) -> None:
            try:
                await body(interaction)
            except BaseException as exc:
                self.errors.append(exc)
            finally:
                self.done.set()


async def run(fake: FakeDiscord, body: Body) -> Harness:
    """Sync, invoke /debate once, wait for the body to finish."""
    harness = Harness(body)
    async with running_client(fake, harness.client):
        await harness.tree.sync()
        harness.results["interaction"] = await fake.invoke_command("debate", options={"question": "Why?"})
        await asyncio.wait_for(harness.done.wait(), 15)
        await asyncio.sleep(0.05)  # let THREAD_CREATE & co. reach the cache before closing
        harness.results["cache_threads"] = [t.id for g in harness.client.guilds for t in g.threads]
    return harness


async def test_defer_edit_original_then_create_thread(fake: FakeDiscord) -> None:
    thread_ids: list[int] = []

    async def body(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        message = await interaction.edit_original_response(content="**Verdict** pending")
        thread = await message.create_thread(name="Debate: Why?", auto_archive_duration=1440)
        thread_ids.append(thread.id)
        await thread.send("Opening statements")

    harness = await run(fake, body)
    assert harness.errors == []
    inter = harness.results["interaction"]
    assert inter.ack_type == 5
    assert inter.ack is not None
    assert inter.ack.t - inter.created_at < 3
    original = inter.original_message
    assert original is not None
    assert original["content"] == "**Verdict** pending"
    assert original["type"] == 20
    assert original["flags"] & 128 == 0  # LOADING cleared by the edit
    assert original["flags"] & 32  # HAS_THREAD
    assert original["edited_timestamp"] is None  # finishing a deferred response is not an "edit"
    assert original["interaction_metadata"]["id"] == str(inter.id)
    assert original["interaction_metadata"]["name"] == "debate"
    assert original["webhook_id"] == str(fake.application_id)
    (thread_id,) = thread_ids
    assert thread_id == int(original["id"])  # a thread started from a message shares its id
    thread = fake.threads[thread_id]
    assert thread["name"] == "Debate: Why?"
    assert thread["parent_id"] == original["channel_id"]
    assert thread["thread_metadata"]["auto_archive_duration"] == 1440
    assert thread["owner_id"] == str(fake.bot_user_id)
    assert [m["content"] for m in fake.channel_messages(thread_id)] == ["Opening statements"]
    assert thread_id in harness.results["cache_threads"]  # THREAD_CREATE reached discord.py's cache
    routes = [r.route for r in fake.requests if r.status < 300]
    assert routes[-4:] == [
        "POST /interactions/{interaction_id}/{interaction_token}/callback",
        "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original",
        "POST /channels/{channel_id}/messages/{message_id}/threads",
        "POST /channels/{channel_id}/messages",
    ]
    callback = next(r for r in fake.requests if r.route.endswith("/callback"))
    assert callback.params == {"with_response": "1"}
    assert callback.json == {"type": 5}
    # A deferral creates the loading message but, per the spec's InteractionCallbackResponse, no resource.
    assert "resource" not in callback.response
    assert callback.response["interaction"]["response_message_loading"] is True
    assert callback.response["interaction"]["response_message_id"] == str(thread_id)


async def test_loading_message_exists_while_deferred(fake: FakeDiscord) -> None:
    seen: dict[str, Any] = {}

    async def body(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        seen["original"] = await interaction.original_response()

    harness = await run(fake, body)
    assert harness.errors == []
    inter = harness.results["interaction"]
    loading = inter.original_message
    assert loading is not None
    assert loading["flags"] == 128 | 64  # LOADING | EPHEMERAL
    assert loading["content"] == ""
    assert seen["original"].id == int(loading["id"])
    assert fake.channel_messages(the_guild(fake).text_channel.id) == []  # ephemeral: not in history


async def test_send_message_creates_the_original_response(fake: FakeDiscord) -> None:
    seen: dict[str, Any] = {}

    async def body(interaction: discord.Interaction) -> None:
        response = await interaction.response.send_message("Hello <@123>", ephemeral=False)
        seen["resource"] = response.resource

    harness = await run(fake, body)
    assert harness.errors == []
    inter = harness.results["interaction"]
    assert inter.ack_type == 4
    (stored,) = fake.channel_messages(the_guild(fake).text_channel.id)
    assert stored["content"] == "Hello <@123>"
    assert stored == inter.original_message
    assert isinstance(seen["resource"], discord.InteractionMessage)
    assert seen["resource"].id == int(stored["id"])


async def test_response_after_three_seconds_is_unknown_interaction(fake: FakeDiscord) -> None:
    async def body(interaction: discord.Interaction) -> None:
        await asyncio.sleep(3.05)
        await interaction.response.send_message("too late")

    harness = await run(fake, body)
    (error,) = harness.errors
    assert isinstance(error, discord.NotFound)
    assert error.code == 10062
    assert error.text == "Unknown interaction"
    inter = harness.results["interaction"]
    assert inter.ack is None
    assert inter.callback_attempts[0] - inter.created_at > 3.0
    assert fake.channel_messages(the_guild(fake).text_channel.id) == []


async def test_second_acknowledgement_is_rejected_with_40060(fake: FakeDiscord) -> None:
    async def body(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        adapter = async_context.get()
        await adapter.create_interaction_response(
            interaction.id,
            interaction.token,
            session=interaction._session,
            params=interaction_response_params(4, {"content": "again"}),
        )

    harness = await run(fake, body)
    (error,) = harness.errors
    assert isinstance(error, discord.HTTPException)
    assert error.status == 400
    assert error.code == 40060
    assert error.text == "Interaction has already been acknowledged."
    assert harness.results["interaction"].ack_type == 5


async def test_webhook_routes_before_acknowledgement_are_unknown_webhook(fake: FakeDiscord) -> None:
    async def body(interaction: discord.Interaction) -> None:
        try:
            await interaction.original_response()
        finally:
            await interaction.response.send_message("now")

    harness = await run(fake, body)
    (error,) = harness.errors
    assert isinstance(error, discord.NotFound)
    assert error.code == 10015


async def test_first_followup_after_defer_replaces_the_loading_message(fake: FakeDiscord) -> None:
    sent: list[discord.WebhookMessage] = []

    async def body(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        sent.append(await interaction.followup.send("first", wait=True))
        sent.append(await interaction.followup.send("second @everyone", wait=True))

    harness = await run(fake, body)
    assert harness.errors == []
    inter = harness.results["interaction"]
    original = inter.original_message
    assert original is not None
    assert sent[0].id == int(original["id"])  # the loading message itself became "first"
    assert original["content"] == "first"
    assert original["flags"] == 64  # keeps the deferral's ephemerality, loses LOADING
    (followup,) = inter.followups
    assert followup["content"] == "second @everyone"
    assert sent[1].id == int(followup["id"])
    assert followup["interaction_metadata"]["original_response_message_id"] == original["id"]
    assert followup["flags"] == 0  # later followups choose their own visibility
    assert fake.channel_messages(the_guild(fake).text_channel.id) == [followup]
    assert [p["kind"] for p in fake.pings] == ["everyone"]
    followup_request = next(
        r for r in fake.requests if r.route == "POST /webhooks/{webhook_id}/{webhook_token}"
    )
    assert followup_request.params["wait"] == "1"


async def test_edit_after_token_expiry_is_invalid_webhook_token() -> None:
    async with FakeDiscord(token_lifetime_s=0.3) as fake:
        fake.add_guild()

        async def body(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            await asyncio.sleep(0.4)
            await interaction.edit_original_response(content="late verdict")

        harness = await run(fake, body)
        (error,) = harness.errors
        assert isinstance(error, discord.HTTPException)
        assert error.status == 401
        assert error.code == 50027
        assert error.text == "Invalid Webhook Token"
        original = harness.results["interaction"].original_message
        assert original is not None
        assert original["flags"] == 128  # still loading: the edit never landed


async def test_interaction_response_validates_message_like_channel_sends(fake: FakeDiscord) -> None:
    async def body(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(embed=discord.Embed(description="d" * 4097))

    harness = await run(fake, body)
    (error,) = harness.errors
    assert isinstance(error, discord.HTTPException)
    assert error.code == 50035
    callback = next(r for r in fake.requests if r.route.endswith("/callback"))
    assert callback.response["errors"] == {
        "data": {
            "embeds": {
                "0": {
                    "description": {
                        "_errors": [
                            {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 4096 or fewer in length."}
                        ]
                    }
                }
            }
        }
    }
    assert harness.results["interaction"].ack is None


async def test_modal_round_trip(fake: FakeDiscord) -> None:
    submitted: dict[str, str] = {}

    class Motion(discord.ui.Modal, title="Propose a motion"):
        text: discord.ui.TextInput[Motion] = discord.ui.TextInput(label="Motion", custom_id="motion")
        seconder: discord.ui.TextInput[Motion] = discord.ui.TextInput(
            label="Seconder", custom_id="seconder", default="nobody yet"
        )

        async def on_submit(self, interaction: discord.Interaction) -> None:
            submitted["motion"] = self.text.value
            submitted["seconder"] = self.seconder.value
            await interaction.response.send_message("noted", ephemeral=True)

    async def body(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Motion())

    harness = Harness(body)
    async with running_client(fake, harness.client):
        await harness.tree.sync()
        shown = await fake.invoke_command("debate", options={"question": "?"})
        assert (await shown.wait_for_ack()).type == 9
        submission = await fake.submit_modal(shown, {"motion": "This house would ban tabs"})
        assert (await submission.wait_for_ack()).type == 4
    assert harness.errors == []
    assert submitted == {"motion": "This house would ban tabs", "seconder": "nobody yet"}
