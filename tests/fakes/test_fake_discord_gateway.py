"""Fidelity of the fake gateway: discord.py logs in, builds its cache, decompresses, shards and resumes."""

from __future__ import annotations

import asyncio
import json
import sys
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
import zstandard
from discord import app_commands

from tests.fakes.fake_discord import (
    INTENT_GUILDS,
    FakeDiscord,
    Permission,
    discord_py_pointed_at,
    running_client,
)

pytestmark = pytest.mark.timeout(30)


def guilds_only() -> discord.Intents:
    """The intents the product uses: guilds, nothing privileged."""
    intents = discord.Intents.none()
    intents.guilds = True
    return intents


def make_client() -> discord.Client:
    """A plain client with a short guild-ready wait."""
    return discord.Client(intents=guilds_only(), guild_ready_timeout=0.05)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A started fake with default settings."""
    async with FakeDiscord() as running:
        yield running


async def raw_gateway(
    fake: FakeDiscord, query: str, *, session: aiohttp.ClientSession
) -> aiohttp.ClientWebSocketResponse:
    """A websocket to the fake gateway without discord.py."""
    return await session.ws_connect(f"{fake.gateway_url}/?{query}")


def identify_payload(fake: FakeDiscord, **overrides: Any) -> str:
    """An IDENTIFY like discord.py's."""
    data: dict[str, Any] = {
        "token": fake.token,
        "properties": {"os": "linux", "browser": "test", "device": "test"},
        "intents": INTENT_GUILDS,
        "shard": [0, 1],
    }
    data.update(overrides)
    return json.dumps({"op": 2, "d": data})


async def test_login_ready_and_guild_create_populate_discord_py_cache(fake: FakeDiscord) -> None:
    guild = fake.add_guild("Parley Test")
    mods = fake.add_role(guild, "Mods", Permission.MANAGE_MESSAGES, mentionable=True)
    alice = fake.add_member(guild, "alice", roles=[mods])
    forum = fake.add_channel(guild, "ideas", type=15)
    voice = fake.add_channel(guild, "voice", type=2)
    client = make_client()
    async with running_client(fake, client):
        await fake.wait_until_ready(timeout=5)
        cached = client.get_guild(guild.id)
        assert cached is not None
        assert cached.name == "Parley Test"
        assert cached.owner_id == guild.owner_id
        assert {c.id for c in cached.channels} == {guild.text_channel.id, forum.id, voice.id}
        assert isinstance(cached.get_channel(forum.id), discord.ForumChannel)
        assert isinstance(cached.get_channel(voice.id), discord.VoiceChannel)
        assert cached.default_role.id == guild.id
        assert cached.get_role(mods.id) is not None
        assert cached.get_role(mods.id).permissions.manage_messages  # type: ignore[union-attr]
        bot_role = cached.get_role(guild.bot_role.id)  # type: ignore[union-attr]
        assert bot_role is not None
        assert bot_role.managed
        assert bot_role.tags is not None
        assert bot_role.tags.bot_id == fake.bot_user_id
        assert cached.me.id == fake.bot_user_id
        assert cached.get_member(alice.id) is None  # no member cache without privileged intents
        assert client.user is not None
        assert client.user.id == fake.bot_user_id
        assert client.user.bot
        assert client.application_id == fake.application_id
    routes = [r.route for r in fake.requests]
    assert routes[:2] == ["GET /users/@me", "GET /oauth2/applications/@me"]
    assert all(r.headers["Authorization"] == f"Bot {fake.token}" for r in fake.requests)
    (session,) = fake.gateway.sessions.values()
    assert session.intents == guilds_only().value
    assert session.shard_id == 0
    assert session.shard_count == 1
    ready = session.buffer[0][1]
    assert ready["t"] == "READY"
    assert ready["s"] == 1
    assert ready["d"]["guilds"] == [{"id": str(guild.id), "unavailable": True}]
    assert ready["d"]["application"] == {"id": str(fake.application_id), "flags": fake.application_flags}
    guild_create = session.buffer[1][1]
    assert guild_create["t"] == "GUILD_CREATE"
    assert guild_create["s"] == 2
    assert [m["user"]["id"] for m in guild_create["d"]["members"]] == [str(fake.bot_user_id)]


async def test_bad_token_raises_login_failure(fake: FakeDiscord) -> None:
    fake.add_guild()
    client = make_client()
    with discord_py_pointed_at(fake), pytest.raises(discord.LoginFailure):
        await client.start("not-the-token")
    await client.close()
    (req,) = fake.requests
    assert req.route == "GET /users/@me"
    assert req.status == 401
    assert req.response == {"message": "401: Unauthorized", "code": 0}
    assert not fake.gateway.sessions


async def test_zstd_stream_is_what_discord_py_negotiates(fake: FakeDiscord) -> None:
    fake.add_guild()
    client = make_client()
    async with running_client(fake, client):
        assert len(client.guilds) == 1
    (session,) = fake.gateway.sessions.values()
    assert session.transports == [("/", "zstd-stream")]


async def test_zlib_stream_with_discord_py_when_zstandard_is_missing(fake: FakeDiscord) -> None:
    """discord.py falls back to zlib-stream without zstandard: run it in a process where the import fails."""
    fake.add_guild("Zlib Guild")
    script = """
import asyncio, sys
sys.modules["zstandard"] = None  # makes `import zstandard` fail, as if it were not installed
import discord, discord.gateway, discord.http, discord.utils, yarl
assert discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE == "zlib-stream"
discord.http.Route.BASE = sys.argv[1]
discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sys.argv[2])
intents = discord.Intents.none()
intents.guilds = True
client = discord.Client(intents=intents, guild_ready_timeout=0.05)

@client.event
async def on_ready():
    print("GUILDS", sorted(g.name for g in client.guilds), flush=True)
    await client.close()

asyncio.run(client.start(sys.argv[3]))
"""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        fake.api_base,
        fake.gateway_url,
        fake.token,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    assert "GUILDS ['Zlib Guild']" in out.decode()
    (session,) = fake.gateway.sessions.values()
    assert session.transports == [("/", "zlib-stream")]


async def test_zlib_stream_shares_one_context_and_sync_flushes(fake: FakeDiscord) -> None:
    fake.add_guild()
    async with aiohttp.ClientSession() as http:
        ws = await raw_gateway(fake, "v=10&encoding=json&compress=zlib-stream", session=http)
        inflater = zlib.decompressobj()
        hello_raw = await ws.receive_bytes()
        assert hello_raw.endswith(b"\x00\x00\xff\xff")
        hello = json.loads(inflater.decompress(hello_raw))
        assert hello["op"] == 10
        assert hello["d"]["heartbeat_interval"] == fake.heartbeat_interval_ms
        await ws.send_str(identify_payload(fake))
        ready_raw = await ws.receive_bytes()
        assert ready_raw.endswith(b"\x00\x00\xff\xff")
        with pytest.raises(zlib.error):  # a continuation of the stream, not a fresh zlib stream
            zlib.decompressobj().decompress(ready_raw)
        ready = json.loads(inflater.decompress(ready_raw))
        assert (ready["t"], ready["s"]) == ("READY", 1)
        guild_create = json.loads(inflater.decompress(await ws.receive_bytes()))
        assert (guild_create["t"], guild_create["s"]) == ("GUILD_CREATE", 2)
        await ws.send_str(json.dumps({"op": 1, "d": 2}))
        ack = json.loads(inflater.decompress(await ws.receive_bytes()))
        assert ack["op"] == 11
        await ws.close()


async def test_zstd_stream_messages_are_complete_blocks(fake: FakeDiscord) -> None:
    fake.add_guild()
    async with aiohttp.ClientSession() as http:
        ws = await raw_gateway(fake, "v=10&encoding=json&compress=zstd-stream", session=http)
        stream = zstandard.ZstdDecompressor().decompressobj()
        hello = json.loads(stream.decompress(await ws.receive_bytes()))
        assert hello["op"] == 10
        await ws.send_str(identify_payload(fake))
        events = [json.loads(stream.decompress(await ws.receive_bytes())) for _ in range(2)]
        assert [(e["t"], e["s"]) for e in events] == [("READY", 1), ("GUILD_CREATE", 2)]
        await ws.close()


@pytest.mark.parametrize(
    ("query", "identify", "close_code"),
    [
        ("v=10&encoding=json", {"token": "wrong"}, 4004),
        ("v=10&encoding=json", {"shard": [1, 1]}, 4010),
        ("v=10&encoding=json", {"intents": 1 << 1}, 4014),
        ("v=10&encoding=etf", None, 4002),
        ("v=9&encoding=json", None, 4012),
    ],
    ids=["bad-token", "invalid-shard", "privileged-intent", "etf-encoding", "api-v9"],
)
async def test_gateway_close_codes(
    fake: FakeDiscord, query: str, identify: dict[str, Any] | None, close_code: int
) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await raw_gateway(fake, query, session=http)
        if identify is not None:
            assert json.loads(await ws.receive_str())["op"] == 10
            await ws.send_str(identify_payload(fake, **identify))
        msg = await ws.receive()
        assert msg.type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == close_code


async def test_payload_before_identify_closes_4003(fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await raw_gateway(fake, "v=10&encoding=json", session=http)
        await ws.receive_str()
        await ws.send_str(json.dumps({"op": 3, "d": {"status": "online"}}))
        await ws.receive()
        assert ws.close_code == 4003


async def test_resume_of_unknown_session_is_invalid_session(fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await raw_gateway(fake, "v=10&encoding=json", session=http)
        await ws.receive_str()
        await ws.send_str(json.dumps({"op": 6, "d": {"token": fake.token, "session_id": "nope", "seq": 3}}))
        answer = json.loads(await ws.receive_str())
        assert (answer["op"], answer["d"]) == (9, False)
        await ws.close()


async def test_privileged_intents_not_enabled_raise_in_discord_py(fake: FakeDiscord) -> None:
    fake.add_guild()
    intents = guilds_only()
    intents.members = True
    client = discord.Client(intents=intents, guild_ready_timeout=0.05)
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with running_client(fake, client):
            pass


async def test_resume_replays_missed_events(fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    client = make_client()
    async with running_client(fake, client):
        (session,) = fake.gateway.sessions.values()
        seq_before = session.seq
        resumed = asyncio.create_task(client.wait_for("resumed", timeout=10))
        fake.disconnect_shard(0, code=4000)
        late = fake.add_channel(guild, "while-away")  # dispatched while the socket is down
        await resumed
        assert client.get_channel(late.id) is not None
        assert session.resumes == 1
        assert session.transports == [("/", "zstd-stream"), ("/resume", "zstd-stream")]
        assert [p["t"] for s, p in session.buffer if s > seq_before] == ["CHANNEL_CREATE", "RESUMED"]
        assert fake.gateway.identify_count == 1


class QuickClient(discord.Client):
    """Skips discord.py's 5 s pause before a re-IDENTIFY."""

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None


async def test_invalid_session_makes_discord_py_identify_again(fake: FakeDiscord) -> None:
    fake.add_guild()
    client = QuickClient(intents=guilds_only(), guild_ready_timeout=0.05)
    async with running_client(fake, client):
        (first,) = fake.gateway.sessions.values()
        reconnected = asyncio.create_task(client.wait_for("connect", timeout=10))
        fake.invalidate_session(0)
        await reconnected
        await fake.wait_until_ready(timeout=5)
        assert fake.gateway.identify_count == 2
        assert not first.resumable
        live = fake.gateway.session_for_shard(0)
        assert live is not None
        assert live.session_id != first.session_id


class QuickShardedClient(discord.AutoShardedClient):
    """Skips discord.py's 5 s pause between shard IDENTIFYs."""

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None


async def test_two_shards_each_get_their_own_guild_events() -> None:
    async with FakeDiscord(shard_count=2) as fake:
        g0 = fake.add_guild("Shard Zero", shard_id=0)
        g1 = fake.add_guild("Shard One", shard_id=1)
        assert (fake.shard_for(g0.id), fake.shard_for(g1.id)) == (0, 1)
        client = QuickShardedClient(intents=guilds_only(), guild_ready_timeout=0.05)
        tree = app_commands.CommandTree(client)
        seen: list[tuple[int | None, str]] = []

        @tree.command(name="where", description="Report the guild")
        async def where(interaction: discord.Interaction) -> None:
            seen.append((interaction.guild_id, interaction.guild.name if interaction.guild else ""))
            await interaction.response.send_message("here")

        async with running_client(fake, client):
            await fake.wait_until_ready(timeout=5)
            assert client.shard_count == 2
            assert {g.id: g.shard_id for g in client.guilds} == {g0.id: 0, g1.id: 1}
            await tree.sync()
            i0 = await fake.invoke_command("where", guild=g0)
            i1 = await fake.invoke_command("where", guild=g1)
            await i0.wait_for_ack()
            await i1.wait_for_ack()
        assert (i0.shard_id, i1.shard_id) == (0, 1)
        assert sorted(seen) == sorted([(g0.id, "Shard Zero"), (g1.id, "Shard One")])
        by_shard = {s.shard_id: s for s in fake.gateway.sessions.values()}
        assert set(by_shard) == {0, 1}
        for shard_id, own, other in ((0, g0, g1), (1, g1, g0)):
            events = [p for _, p in by_shard[shard_id].buffer]
            guild_ids = {p["d"]["id"] for p in events if p["t"] == "GUILD_CREATE"}
            interaction_guilds = {p["d"]["guild_id"] for p in events if p["t"] == "INTERACTION_CREATE"}
            assert guild_ids == {str(own.id)}
            assert interaction_guilds == {str(own.id)}
            assert str(other.id) not in guild_ids


async def test_removing_the_bot_sends_guild_delete_that_discord_py_reads_as_a_removal(
    fake: FakeDiscord,
) -> None:
    kept, left = fake.add_guild("Kept"), fake.add_guild("Left")
    client = make_client()
    removed: asyncio.Queue[discord.Guild] = asyncio.Queue()
    unavailable: list[discord.Guild] = []

    @client.event
    async def on_guild_remove(guild: discord.Guild) -> None:
        await removed.put(guild)

    @client.event
    async def on_guild_unavailable(guild: discord.Guild) -> None:
        unavailable.append(guild)

    async with running_client(fake, client):
        await fake.wait_until_ready(timeout=5)
        assert {g.id for g in client.guilds} == {kept.id, left.id}
        fake.remove_bot_from_guild(left)
        gone = await asyncio.wait_for(removed.get(), 5)
        assert gone.id == left.id
        assert [g.id for g in client.guilds] == [kept.id]
        assert unavailable == []
    (session,) = fake.gateway.sessions.values()
    assert session.buffer[-1][1]["t"] == "GUILD_DELETE"
    assert session.buffer[-1][1]["d"] == {"id": str(left.id)}  # no "unavailable": a removal
    assert fake.bot_user_id not in left.members
    assert left.bot_role is None
    assert fake.permissions_for(fake.bot_user_id, left.text_channel) == 0
