"""The fake's permission computation: Discord's documented algorithm, cross-checked with discord.py's."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import discord
import pytest

from tests.fakes.fake_discord import (
    ALL_PERMISSIONS,
    DEFAULT_BOT_PERMISSIONS,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_PRESENCES,
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeMember,
    Overwrite,
    Permission,
    running_client,
)

pytestmark = pytest.mark.timeout(30)

P = Permission
BASE = int(P.VIEW_CHANNEL | P.SEND_MESSAGES | P.EMBED_LINKS | P.ATTACH_FILES | P.READ_MESSAGE_HISTORY)


@dataclass
class World:
    """A fake (not started) with a guild covering the overwrite rules."""

    fake: FakeDiscord
    guild: FakeGuild
    members: dict[str, FakeMember]
    channels: dict[str, FakeChannel]
    thread: FakeChannel


def world() -> World:
    """A guild with roles, members and channels covering the overwrite rules (not started)."""
    fake = FakeDiscord(privileged_intents=INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES)
    guild = fake.add_guild("Perms", everyone_permissions=BASE)
    admins = fake.add_role(guild, "Admins", P.ADMINISTRATOR)
    mods = fake.add_role(guild, "Mods", P.MANAGE_MESSAGES | P.MENTION_EVERYONE)
    muted = fake.add_role(guild, "Muted")
    owner = guild.members[guild.owner_id]
    admin = fake.add_member(guild, "admin", roles=[admins])
    mod = fake.add_member(guild, "mod", roles=[mods])
    both = fake.add_member(guild, "both", roles=[mods, muted])
    plain = fake.add_member(guild, "plain")
    timed_out = fake.add_member(guild, "timeout", roles=[mods])
    timed_out.communication_disabled_until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    channels = {
        "general": guild.text_channel,
        "readonly": fake.add_channel(
            guild,
            "readonly",
            overwrites=[
                Overwrite(guild.id, 0, deny=P.SEND_MESSAGES),
                Overwrite(mods.id, 0, allow=P.SEND_MESSAGES),
                Overwrite(muted.id, 0, deny=P.SEND_MESSAGES),  # role deny and allow combine: allow wins
            ],
        ),
        "hidden": fake.add_channel(
            guild,
            "hidden",
            overwrites=[
                Overwrite(guild.id, 0, deny=P.VIEW_CHANNEL),
                Overwrite(plain.id, 1, allow=P.VIEW_CHANNEL),
            ],
        ),
        "member-deny": fake.add_channel(
            guild,
            "member-deny",
            overwrites=[
                Overwrite(mods.id, 0, allow=P.SEND_MESSAGES | P.ADD_REACTIONS),
                Overwrite(mod.id, 1, deny=P.SEND_MESSAGES),
            ],
        ),
        "announcements": fake.add_channel(guild, "announcements", type=5),
    }
    return World(
        fake=fake,
        guild=guild,
        members={
            "owner": owner,
            "admin": admin,
            "mod": mod,
            "both": both,
            "plain": plain,
            "timeout": timed_out,
        },
        channels=channels,
        thread=fake.add_thread(channels["readonly"], "thread"),
    )


def test_documented_rules() -> None:
    w = world()
    fake, members, ch = w.fake, w.members, w.channels
    perms = fake.permissions_for
    assert perms(members["owner"], ch["hidden"]) == ALL_PERMISSIONS
    assert perms(members["admin"], ch["hidden"]) == ALL_PERMISSIONS
    assert perms(members["plain"], ch["general"]) == BASE
    # @everyone deny SEND → implicit loss of embed/attach; role allow restores SEND (and with it the rest).
    assert perms(members["plain"], ch["readonly"]) == int(P.VIEW_CHANNEL | P.READ_MESSAGE_HISTORY)
    assert perms(members["mod"], ch["readonly"]) == BASE | int(P.MANAGE_MESSAGES | P.MENTION_EVERYONE)
    assert perms(members["both"], ch["readonly"]) == BASE | int(P.MANAGE_MESSAGES | P.MENTION_EVERYONE)
    # Member overwrites come last: the member allow beats the @everyone deny...
    assert perms(members["plain"], ch["hidden"]) == BASE
    # ...and no VIEW_CHANNEL means nothing at all.
    assert perms(members["mod"], ch["hidden"]) == 0
    # A member deny beats the role overwrite's allow; SEND gone → MENTION_EVERYONE/EMBED/ATTACH gone too.
    assert perms(members["mod"], ch["member-deny"]) == int(
        P.VIEW_CHANNEL | P.READ_MESSAGE_HISTORY | P.MANAGE_MESSAGES | P.ADD_REACTIONS
    )
    assert perms(members["both"], ch["member-deny"]) == BASE | int(
        P.MANAGE_MESSAGES | P.MENTION_EVERYONE | P.ADD_REACTIONS
    )
    # Timed-out members keep only VIEW_CHANNEL and READ_MESSAGE_HISTORY.
    assert perms(members["timeout"], ch["general"]) == int(P.VIEW_CHANNEL | P.READ_MESSAGE_HISTORY)
    # Threads inherit the parent's overwrites, but there "can send" means SEND_MESSAGES_IN_THREADS: the mod
    # (no SMIT) loses embeds/attachments/mentions, the bot (SMIT, parent SEND denied) keeps them.
    thread = w.thread
    lost = int(P.EMBED_LINKS | P.ATTACH_FILES | P.MENTION_EVERYONE)
    assert perms(members["mod"], thread) == perms(members["mod"], ch["readonly"]) & ~lost
    assert perms(fake.bot_user_id, thread) == (BASE | DEFAULT_BOT_PERMISSIONS) & ~int(P.SEND_MESSAGES)
    # The bot: @everyone base plus its managed role (the invite permissions).
    assert perms(fake.bot_user_id, ch["general"]) == BASE | DEFAULT_BOT_PERMISSIONS


def test_member_permission_override_replaces_roles() -> None:
    fake = FakeDiscord()
    guild = fake.add_guild(everyone_permissions=BASE)
    limited = fake.add_member(guild, "limited", permissions=int(P.VIEW_CHANNEL))
    assert fake.permissions_for(limited, guild.text_channel) == int(P.VIEW_CHANNEL)


async def test_matches_discord_py_computation_from_its_cache() -> None:
    w = world()
    fake, members, channels = w.fake, w.members, w.channels
    await fake.start()
    try:
        intents = discord.Intents.none()
        intents.guilds = intents.members = intents.presences = True
        client = discord.Client(intents=intents, guild_ready_timeout=0.05)
        async with running_client(fake, client):
            cached = client.get_guild(w.guild.id)
            assert cached is not None
            assert cached.chunked
            targets = [*channels.values(), w.thread]
            voice_only = discord.Permissions.voice().value
            checked = 0
            for name, member in [*members.items(), ("bot", fake.guilds[cached.id].members[fake.bot_user_id])]:
                dp_member = cached.get_member(member.id)
                assert dp_member is not None, name
                for channel in targets:
                    dp_channel = cached.get_channel_or_thread(channel.id)
                    assert dp_channel is not None
                    # discord.py additionally hides voice-only bits in text channels; Discord's API does not.
                    ours = fake.permissions_for(member, channel) & ~voice_only
                    theirs = dp_channel.permissions_for(dp_member).value & ~voice_only
                    if ours == 0:
                        assert not theirs & P.VIEW_CHANNEL, (name, channel.name)
                    else:
                        assert ours == theirs & ALL_PERMISSIONS, (name, channel.name, ours, theirs)
                    checked += 1
            assert checked == 7 * 6
    finally:
        await fake.close()
