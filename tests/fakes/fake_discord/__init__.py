"""A loopback fake of Discord's API v10 (REST + gateway) for driving the real discord.py in tests."""

from .errors import DiscordHTTPError, FormErrors
from .gateway import (
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILD_PRESENCES,
    INTENT_GUILDS,
    INTENT_MESSAGE_CONTENT,
    GatewaySession,
)
from .interactions import CommandNotAvailableError, CommandNotRegisteredError, InvalidCommandOptionsError
from .models import (
    AckRecord,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeRole,
    FakeUser,
    RecordedFile,
    RecordedRequest,
)
from .patching import discord_py_pointed_at, guilds_client, running_client, the_guild
from .permissions import (
    ALL_PERMISSIONS,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    Overwrite,
    Permission,
)
from .ratelimit import DEFAULT_BUCKETS, DEFAULT_GLOBAL_LIMIT
from .server import FakeDiscord
from .snowflake import shard_for, snowflake_time

__all__ = [
    "ALL_PERMISSIONS",
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_BUCKETS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "DEFAULT_GLOBAL_LIMIT",
    "INTENT_GUILDS",
    "INTENT_GUILD_MEMBERS",
    "INTENT_GUILD_MESSAGES",
    "INTENT_GUILD_PRESENCES",
    "INTENT_MESSAGE_CONTENT",
    "AckRecord",
    "CommandNotAvailableError",
    "CommandNotRegisteredError",
    "DiscordHTTPError",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "FormErrors",
    "GatewaySession",
    "InvalidCommandOptionsError",
    "Overwrite",
    "Permission",
    "RecordedFile",
    "RecordedRequest",
    "discord_py_pointed_at",
    "guilds_client",
    "running_client",
    "shard_for",
    "snowflake_time",
    "the_guild",
]
