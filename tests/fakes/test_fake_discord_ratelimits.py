"""Fidelity of rate limiting: headers, per-route and global 429s that discord.py waits out, latency."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import discord
import pytest

from tests.fakes.fake_discord import FakeDiscord, guilds_client, running_client

pytestmark = pytest.mark.timeout(30)


def text_channel(client: discord.Client, channel_id: int) -> discord.TextChannel:
    """A cached text channel."""
    channel = client.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def raw_post(
    http: aiohttp.ClientSession, fake: FakeDiscord, channel_id: int, content: str
) -> aiohttp.ClientResponse:
    """Post a message as another process sharing the bot token would."""
    async with http.post(
        f"{fake.api_base}/channels/{channel_id}/messages",
        json={"content": content},
        headers={"Authorization": f"Bot {fake.token}"},
    ) as resp:
        await resp.read()
        return resp


async def test_every_response_carries_rate_limit_headers() -> None:
    async with FakeDiscord(bucket_limits={"messages": (5, 5.0)}) as fake:
        guild = fake.add_guild()
        other = fake.add_channel(guild, "other")
        async with aiohttp.ClientSession() as http:
            first = await raw_post(http, fake, guild.text_channel.id, "1")
            second = await raw_post(http, fake, guild.text_channel.id, "2")
            elsewhere = await raw_post(http, fake, other.id, "3")
    assert first.status == second.status == elsewhere.status == 200
    assert first.headers["X-RateLimit-Limit"] == "5"
    assert (first.headers["X-RateLimit-Remaining"], second.headers["X-RateLimit-Remaining"]) == ("4", "3")
    assert elsewhere.headers["X-RateLimit-Remaining"] == "4"  # per-channel bucket
    assert first.headers["X-RateLimit-Bucket"] == elsewhere.headers["X-RateLimit-Bucket"]
    assert 0 < float(first.headers["X-RateLimit-Reset-After"]) <= 5.0
    assert abs(float(first.headers["X-RateLimit-Reset"]) - (time.time() + 5.0)) < 2.0
    assert first.headers["Via"] == "1.1 google"
    assert all("X-RateLimit-Remaining" in r.response_headers for r in fake.requests)


async def test_route_429_from_a_shared_bucket_is_waited_out_by_discord_py() -> None:
    async with FakeDiscord(bucket_limits={"messages": (2, 0.6)}) as fake:
        guild = fake.add_guild()
        client = guilds_client()
        async with running_client(fake, client), aiohttp.ClientSession() as http:
            channel = text_channel(client, guild.text_channel.id)
            # Another process with the same token drains the channel's bucket first.
            for i in range(2):
                assert (await raw_post(http, fake, channel.id, f"other-{i}")).status == 200
            sent = await channel.send("from discord.py")
    limited = [r for r in fake.requests if r.status == 429]
    assert len(limited) >= 1
    hit = limited[0]
    assert hit.response["global"] is False
    assert hit.response["message"] == "You are being rate limited."
    assert 0 < hit.response["retry_after"] <= 0.6
    assert hit.response_headers["X-RateLimit-Scope"] == "user"
    assert hit.response_headers["Via"] == "1.1 google"
    assert hit.response_headers["Retry-After"] == "1"
    retry = next(
        r for r in fake.requests if r.status == 200 and r.t > hit.t and r.json["content"] == "from discord.py"
    )
    assert retry.t - hit.t >= hit.response["retry_after"] - 0.01
    assert [m["content"] for m in fake.channel_messages(guild.text_channel.id)][-1] == "from discord.py"
    assert sent.content == "from discord.py"


async def test_global_429_burst_is_waited_out_and_every_message_lands() -> None:
    async with FakeDiscord(global_limit=(4, 0.5), bucket_limits={"messages": (50, 1.0)}) as fake:
        guild = fake.add_guild()
        channels = [fake.add_channel(guild, f"room-{i}") for i in range(5)]
        client = guilds_client()
        async with running_client(fake, client):
            await asyncio.sleep(0.5)  # start from a fresh global window
            sends = [text_channel(client, ch.id).send(f"{ch.name}/{n}") for ch in channels for n in range(2)]
            results = await asyncio.gather(*sends)
    assert len(results) == 10
    global_hits = [r for r in fake.requests if r.status == 429]
    assert global_hits, "the burst should have hit the global limit"
    for hit in global_hits:
        assert hit.response["global"] is True
        assert hit.response_headers["X-RateLimit-Global"] == "true"
        assert hit.response_headers["X-RateLimit-Scope"] == "global"
        assert hit.response_headers["Via"] == "1.1 google"
    stored = sorted(m["content"] for ch in channels for m in fake.channel_messages(ch.id))
    assert stored == sorted(f"{ch.name}/{n}" for ch in channels for n in range(2))
    assert all(0 < hit.response["retry_after"] <= 0.5 for hit in global_hits)
    accepted = [
        r for r in fake.requests if r.route == "POST /channels/{channel_id}/messages" and r.status == 200
    ]
    assert len(accepted) == 10  # each send landed exactly once


async def test_interaction_callbacks_are_exempt_from_the_global_limit() -> None:
    from discord import app_commands

    async with FakeDiscord(global_limit=(3, 30.0)) as fake:
        fake.add_guild()
        client = guilds_client()
        tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)

        @tree.command(name="ping", description="Pong")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong")

        async with running_client(fake, client):
            await tree.sync()  # login (2) + sync (1): the global window is now exhausted
            inter = await fake.invoke_command("ping")
            ack = await inter.wait_for_ack()
    assert ack.type == 4
    assert all(r.status != 429 for r in fake.requests)


async def test_rate_limits_disabled_never_answer_429() -> None:
    async with FakeDiscord(rate_limits=False, bucket_limits={"messages": (1, 10.0)}) as fake:
        guild = fake.add_guild()
        async with aiohttp.ClientSession() as http:
            responses = [await raw_post(http, fake, guild.text_channel.id, str(i)) for i in range(4)]
    assert [r.status for r in responses] == [200] * 4
    assert all(r.headers["X-RateLimit-Limit"] == "1" for r in responses)
    assert all(int(r.headers["X-RateLimit-Remaining"]) >= 1 for r in responses)  # never tells clients to wait


async def test_latency_delays_every_response() -> None:
    async with FakeDiscord(latency_s=0.2) as fake:
        guild = fake.add_guild()
        client = guilds_client()
        async with running_client(fake, client):
            started = time.monotonic()
            await text_channel(client, guild.text_channel.id).send("slow")
            elapsed = time.monotonic() - started
    assert elapsed >= 0.2
    assert all(r.finished_at - r.t >= 0.2 - 0.01 for r in fake.requests)
