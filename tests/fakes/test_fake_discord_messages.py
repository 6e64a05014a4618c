"""Fidelity of channel messages and threads: limits, error bodies, permissions, mentions, files."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord.http import Route

from tests.fakes.fake_discord import (
    FakeDiscord,
    Permission,
    guilds_client,
    running_client,
    the_guild,
)

pytestmark = pytest.mark.timeout(30)

P = Permission


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A started fake with one guild; message buckets wide enough not to interfere."""
    async with FakeDiscord(bucket_limits={"messages": (50, 1.0)}) as running:
        running.add_guild("Parley Test")
        yield running


def text_channel(client: discord.Client, channel_id: int) -> discord.TextChannel:
    """A cached text channel."""
    channel = client.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    return channel


def max_length(limit: int) -> dict[str, Any]:
    """Discord's ``BASE_TYPE_MAX_LENGTH`` leaf."""
    return {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}]}


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"embeds": [{"description": "x"} for _ in range(11)]}, {"embeds": max_length(10)}),
        ({"embeds": [{"description": "d" * 4097}]}, {"embeds": {"0": {"description": max_length(4096)}}}),
        (
            {"embeds": [{"description": "d" * 4096}, {"description": "d" * 1905}]},
            {
                "embeds": {
                    "_errors": [
                        {
                            "code": "MAX_EMBED_SIZE_EXCEEDED",
                            "message": "Embed size exceeds maximum size of 6000",
                        }
                    ]
                }
            },
        ),
        ({"content": "c" * 2001}, {"content": max_length(2000)}),
        ({"embeds": [{"title": "t" * 257}]}, {"embeds": {"0": {"title": max_length(256)}}}),
        (
            {"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}], "footer": {"text": "f" * 2049}}]},
            {
                "embeds": {
                    "0": {"fields": {"0": {"value": max_length(1024)}}, "footer": {"text": max_length(2048)}}
                }
            },
        ),
        (
            {"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]},
            {"embeds": {"0": {"fields": max_length(25)}}},
        ),
        (
            {"embeds": [{"title": "t", "color": 0x1000000}]},
            {
                "embeds": {
                    "0": {
                        "color": {
                            "_errors": [
                                {
                                    "code": "NUMBER_TYPE_MAX",
                                    "message": "int value should be less than or equal to 16777215.",
                                }
                            ]
                        }
                    }
                }
            },
        ),
        (
            {"content": "hi", "allowed_mentions": {"parse": ["users"], "users": ["1"]}},
            {
                "allowed_mentions": {
                    "_errors": [
                        {
                            "code": "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                            "message": 'parse:["users"] and users: [ids...] are mutually exclusive.',
                        }
                    ]
                }
            },
        ),
        (
            {"content": "hi", "allowed_mentions": {"parse": ["channels"]}},
            {
                "allowed_mentions": {
                    "parse": {
                        "0": {
                            "_errors": [
                                {
                                    "code": "BASE_TYPE_CHOICES",
                                    "message": "Value must be one of {'everyone', 'roles', 'users'}.",
                                }
                            ]
                        }
                    }
                }
            },
        ),
    ],
    ids=[
        "11-embeds",
        "4097-description",
        "6001-total",
        "2001-content",
        "257-title",
        "field-value-and-footer",
        "26-fields",
        "colour-range",
        "parse-users-with-user-list",
        "bad-parse-value",
    ],
)
async def test_invalid_message_bodies_get_discords_50035(
    fake: FakeDiscord, payload: dict[str, Any], errors: dict[str, Any]
) -> None:
    channel_id = the_guild(fake).text_channel.id
    client = guilds_client()
    async with running_client(fake, client):
        with pytest.raises(discord.HTTPException) as caught:
            await client.http.request(
                Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id), json=payload
            )
    assert caught.value.status == 400
    assert caught.value.code == 50035
    assert fake.requests[-1].response == {"message": "Invalid Form Body", "code": 50035, "errors": errors}
    assert fake.channel_messages(channel_id) == []


async def test_embed_description_over_limit_through_channel_send(fake: FakeDiscord) -> None:
    client = guilds_client()
    async with running_client(fake, client):
        channel = text_channel(client, the_guild(fake).text_channel.id)
        with pytest.raises(discord.HTTPException) as caught:
            await channel.send(embed=discord.Embed(description="d" * 4097))
        ok = await channel.send(embed=discord.Embed(title="T", description="d" * 4096, colour=0xFFFFFF))
    assert caught.value.code == 50035
    assert "In embeds.0.description: Must be 4096 or fewer in length." in str(caught.value)
    (stored,) = fake.channel_messages(channel.id)
    assert stored["id"] == str(ok.id)
    assert stored["embeds"][0]["type"] == "rich"
    assert stored["embeds"][0]["color"] == 0xFFFFFF


async def test_empty_message_is_50006(fake: FakeDiscord) -> None:
    client = guilds_client()
    async with running_client(fake, client):
        channel = text_channel(client, the_guild(fake).text_channel.id)
        with pytest.raises(discord.HTTPException) as caught:
            await channel.send("")
        with pytest.raises(discord.HTTPException) as whitespace:
            await channel.send("   ")
    for exc in (caught.value, whitespace.value):
        assert exc.status == 400
        assert exc.code == 50006
        assert exc.text == "Cannot send an empty message"


async def test_missing_create_public_threads_is_forbidden(fake: FakeDiscord) -> None:
    guild = the_guild(fake)
    client = guilds_client()
    async with running_client(fake, client):
        channel = text_channel(client, guild.text_channel.id)
        message = await channel.send("Motion")
        fake.set_bot_permissions(guild.text_channel.id, deny=P.CREATE_PUBLIC_THREADS)
        with pytest.raises(discord.Forbidden) as caught:
            await message.create_thread(name="Debate")
    assert caught.value.code == 50013
    assert caught.value.text == "Missing Permissions"
    assert fake.threads == {}


async def test_thread_rules(fake: FakeDiscord) -> None:
    guild = the_guild(fake)
    client = guilds_client()
    async with running_client(fake, client):
        channel = text_channel(client, guild.text_channel.id)
        message = await channel.send("Motion")
        thread = await message.create_thread(name="Debate")
        with pytest.raises(discord.HTTPException) as twice:
            await message.create_thread(name="Again")
        with pytest.raises(discord.HTTPException) as long_name:
            await (await channel.send("other")).create_thread(name="n" * 101)
        await thread.send("in thread")
        fake.set_bot_permissions(guild.text_channel.id, deny=P.SEND_MESSAGES_IN_THREADS)
        with pytest.raises(discord.Forbidden) as no_thread_send:
            await thread.send("denied")
        await channel.send("channel sends still work")
        private = await channel.create_thread(name="Backroom", type=discord.ChannelType.private_thread)
    assert twice.value.code == 160004
    assert twice.value.text == "A thread has already been created for this message"
    assert long_name.value.code == 50035
    assert no_thread_send.value.code == 50013
    assert [m["content"] for m in fake.channel_messages(thread.id)] == ["in thread"]
    assert fake.threads[private.id]["type"] == 12


async def test_channel_access_and_send_permissions(fake: FakeDiscord) -> None:
    guild = the_guild(fake)
    hidden = fake.add_channel(guild, "hidden")
    muted = fake.add_channel(guild, "muted")
    no_embeds = fake.add_channel(guild, "no-embeds")
    fake.set_bot_permissions(hidden.id, deny=P.VIEW_CHANNEL)
    fake.set_bot_permissions(muted.id, deny=P.SEND_MESSAGES)
    fake.set_permission_overwrite(no_embeds, guild.id, deny=P.EMBED_LINKS)
    fake.set_role_permissions(guild.everyone_role, int(P.VIEW_CHANNEL | P.SEND_MESSAGES))
    client = guilds_client()
    async with running_client(fake, client):
        with pytest.raises(discord.Forbidden) as no_access:
            await text_channel(client, hidden.id).send("hi")
        with pytest.raises(discord.Forbidden) as no_send:
            await text_channel(client, muted.id).send("hi")
        await text_channel(client, no_embeds.id).send("plain text is fine")
        # The @everyone overwrite applies on top of the role-derived base: the bot's role grant is gone...
        with pytest.raises(discord.Forbidden) as no_embed:
            await text_channel(client, no_embeds.id).send(embed=discord.Embed(title="no"))
        # ...until a role overwrite allows it again (role overwrites come after the @everyone one).
        assert guild.bot_role is not None
        fake.set_permission_overwrite(no_embeds, guild.bot_role, allow=P.EMBED_LINKS)
        await text_channel(client, no_embeds.id).send(embed=discord.Embed(title="ok"))
        with pytest.raises(discord.NotFound) as unknown_channel:
            await client.http.send_message(
                1234567890123456789, params=discord.http.handle_message_parameters("x")
            )
        with pytest.raises(discord.NotFound) as unknown_message:
            await text_channel(client, no_embeds.id).fetch_message(1234567890123456789)
    assert (no_access.value.code, no_access.value.text) == (50001, "Missing Access")
    assert (no_send.value.code, no_send.value.text) == (50013, "Missing Permissions")
    assert no_embed.value.code == 50013
    assert (unknown_channel.value.code, unknown_channel.value.text) == (10003, "Unknown Channel")
    assert (unknown_message.value.code, unknown_message.value.text) == (10008, "Unknown Message")
    assert len(fake.channel_messages(no_embeds.id)) == 2


async def test_pings_follow_allowed_mentions(fake: FakeDiscord) -> None:
    guild = the_guild(fake)
    alice = fake.add_member(guild, "alice")
    mods = fake.add_role(guild, "Mods", mentionable=True)
    client = guilds_client()
    async with running_client(fake, client):
        channel = text_channel(client, guild.text_channel.id)
        loud = await channel.send("@everyone look")
        assert len(fake.pings) == 1
        await channel.send("@everyone quiet", allowed_mentions=discord.AllowedMentions.none())
        await channel.send(
            f"<@{alice.id}> <@&{mods.id}> @here", allowed_mentions=discord.AllowedMentions.none()
        )
        await channel.send(
            f"<@{alice.id}> only users", allowed_mentions=discord.AllowedMentions(everyone=False, roles=False)
        )
        await channel.send(
            f"<@&{mods.id}>", allowed_mentions=discord.AllowedMentions(roles=[discord.Object(mods.id)])
        )
        await channel.send(f"<@{fake.bot_user_id}> myself")
    kinds = [(p["kind"], p["id"]) for p in fake.pings]
    assert kinds == [("everyone", None), ("user", alice.id), ("role", mods.id)]
    first = fake.pings[0]
    assert first["message_id"] == loud.id
    assert first["channel_id"] == guild.text_channel.id
    assert first["route"] == "POST /channels/{channel_id}/messages"
    stored = fake.channel_messages(guild.text_channel.id)
    assert stored[0]["mention_everyone"] is True
    assert stored[1]["mention_everyone"] is False
    assert stored[3]["mentions"][0]["id"] == str(alice.id)
    assert stored[2]["mentions"] == []


async def test_client_wide_allowed_mentions_are_sent_and_honoured(fake: FakeDiscord) -> None:
    client = guilds_client(allowed_mentions=discord.AllowedMentions.none())
    async with running_client(fake, client):
        await text_channel(client, the_guild(fake).text_channel.id).send("@everyone")
    assert fake.requests[-1].json["allowed_mentions"] == {"parse": []}
    assert fake.pings == []


async def test_multipart_upload_is_stored_and_served(fake: FakeDiscord) -> None:
    client = guilds_client()
    async with running_client(fake, client):
        channel = text_channel(client, the_guild(fake).text_channel.id)
        message = await channel.send(
            "transcript", file=discord.File(io.BytesIO(b"hello transcript"), "debate.txt")
        )
        (attachment,) = message.attachments
        downloaded = await attachment.read()
    assert downloaded == b"hello transcript"
    request = next(r for r in fake.requests if r.route == "POST /channels/{channel_id}/messages")
    assert request.json["content"] == "transcript"
    assert [(f.field, f.filename, f.data) for f in request.files] == [
        ("files[0]", "debate.txt", b"hello transcript")
    ]
    (stored,) = fake.channel_messages(channel.id)
    assert stored["attachments"][0]["filename"] == "debate.txt"
    assert stored["attachments"][0]["size"] == len(b"hello transcript")


async def test_edit_keeps_listed_attachments_and_adds_new_files(fake: FakeDiscord) -> None:
    client = guilds_client()
    async with running_client(fake, client):
        channel = text_channel(client, the_guild(fake).text_channel.id)
        message = await channel.send("v1", file=discord.File(io.BytesIO(b"one"), "one.txt"))
        first = message.attachments[0]
        edited = await message.edit(attachments=[first, discord.File(io.BytesIO(b"two"), "two.txt")])
        waiter = fake.wait_for_request(lambda r: r.method == "PATCH")
        assert (await waiter).status == 200
        dropped = await edited.edit(attachments=[])
    assert [a.filename for a in edited.attachments] == ["one.txt", "two.txt"]
    assert edited.attachments[0].id == first.id
    assert dropped.attachments == []
    assert fake.message(message.id) is not None


async def test_wait_for_request_sees_past_and_future_requests(fake: FakeDiscord) -> None:
    client = guilds_client()
    async with running_client(fake, client):
        past = await fake.wait_for_request(lambda r: r.route == "GET /users/@me", timeout=1)
        future = asyncio.create_task(
            fake.wait_for_request(lambda r: r.route == "POST /channels/{channel_id}/messages")
        )
        await asyncio.sleep(0)
        assert not future.done()
        await text_channel(client, the_guild(fake).text_channel.id).send("hello")
        posted = await future
        with pytest.raises(TimeoutError):
            await fake.wait_for_request(lambda r: r.method == "DELETE", timeout=0.05)
    assert past.status == 200
    assert posted.json["content"] == "hello"
    assert posted.t <= posted.finished_at


async def test_forum_post_creates_thread_with_starter_message() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild()
        forum = fake.add_channel(guild, "motions", type=15)
        client = guilds_client()
        async with running_client(fake, client):
            channel = client.get_channel(forum.id)
            assert isinstance(channel, discord.ForumChannel)
            created = await channel.create_thread(name="Ban tabs?", content="Opening statement")
            with pytest.raises(discord.HTTPException) as plain_send:
                await client.http.send_message(forum.id, params=discord.http.handle_message_parameters("x"))
    assert created.thread.id == created.message.id
    thread = fake.threads[created.thread.id]
    assert (thread["type"], thread["parent_id"], thread["name"]) == (11, str(forum.id), "Ban tabs?")
    (starter,) = fake.channel_messages(created.thread.id)
    assert starter["id"] == str(created.thread.id)
    assert starter["content"] == "Opening statement"
    assert plain_send.value.code == 50008


async def test_user_messages_reach_bots_with_the_message_intents() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild()
        alice = fake.add_member(guild, "alice")
        intents = discord.Intents.none()
        intents.guilds = intents.guild_messages = True
        client = discord.Client(intents=intents, guild_ready_timeout=0.05)
        received: list[discord.Message] = []
        got_two = asyncio.Event()

        @client.event
        async def on_message(message: discord.Message) -> None:
            received.append(message)
            if len(received) == 2:
                got_two.set()

        async with running_client(fake, client):
            fake.post_user_message(guild.text_channel, alice, "secret plans")
            fake.post_user_message(guild.text_channel, alice, f"<@{fake.bot_user_id}> hello bot")
            await asyncio.wait_for(got_two.wait(), 5)
    assert [m.author.id for m in received] == [alice.id, alice.id]
    assert received[0].content == ""  # no MESSAGE_CONTENT intent
    assert received[1].content == f"<@{fake.bot_user_id}> hello bot"  # mentions of the bot keep content
    assert [p["kind"] for p in fake.pings] == ["user"]


async def test_edit_and_delete_messages(fake: FakeDiscord) -> None:
    guild = the_guild(fake)
    human = fake.post_user_message(guild.text_channel, guild.members[guild.owner_id], "human words")
    client = guilds_client()
    async with running_client(fake, client):
        channel = text_channel(client, guild.text_channel.id)
        mine = await channel.send("draft")
        edited = await mine.edit(content="final")
        with pytest.raises(discord.HTTPException) as empty_edit:
            await mine.edit(content="")
        theirs = await channel.fetch_message(int(human["id"]))
        with pytest.raises(discord.Forbidden) as not_author:
            await theirs.edit(content="hijack")
        with pytest.raises(discord.Forbidden) as no_manage:
            await theirs.delete()
        await mine.delete()
    assert edited.content == "final"
    assert edited.edited_at is not None
    assert empty_edit.value.code == 50006
    assert not_author.value.code == 50005
    assert no_manage.value.code == 50013
    assert [m["content"] for m in fake.channel_messages(guild.text_channel.id)] == ["human words"]


async def test_unknown_route_and_auth(fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{fake.api_base}/nope/nothing", headers={"Authorization": f"Bot {fake.token}"}
        ) as resp:
            assert resp.status == 404
            assert resp.headers["Content-Type"] == "application/json"
            assert "X-RateLimit-Bucket" in resp.headers
            assert await resp.json() == {"message": "404: Not Found", "code": 0}
        async with http.get(f"{fake.api_base}/users/@me") as resp:
            assert resp.status == 401
            assert await resp.json() == {"message": "401: Unauthorized", "code": 0}
        async with http.delete(
            f"{fake.api_base}/users/@me", headers={"Authorization": f"Bot {fake.token}"}
        ) as resp:
            assert resp.status == 405
    assert [r.status for r in fake.requests] == [404, 401, 405]
    assert fake.requests[0].route == "GET /nope/nothing"


async def test_fail_next_injects_one_failure(fake: FakeDiscord) -> None:
    with pytest.raises(ValueError, match="unknown route"):
        fake.fail_next("POST /channels/{id}/messages", 500, {})
    fake.fail_next("POST /channels/{channel_id}/messages", 403, {"message": "Missing Access", "code": 50001})
    client = guilds_client()
    async with running_client(fake, client):
        channel = text_channel(client, the_guild(fake).text_channel.id)
        with pytest.raises(discord.Forbidden) as caught:
            await channel.send("first")
        await channel.send("second")
    assert caught.value.code == 50001
    assert [m["content"] for m in fake.channel_messages(channel.id)] == ["second"]
