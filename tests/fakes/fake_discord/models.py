"""The fake's state objects and their Discord wire shapes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from .permissions import Overwrite
from .snowflake import iso_at, snowflake_time

if TYPE_CHECKING:
    from .server import FakeDiscord

JSON = dict[str, Any]

# Channel types (subset the fake models).
GUILD_TEXT = 0
GUILD_VOICE = 2
GUILD_CATEGORY = 4
GUILD_ANNOUNCEMENT = 5
ANNOUNCEMENT_THREAD = 10
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
GUILD_STAGE_VOICE = 13
GUILD_FORUM = 15
GUILD_MEDIA = 16
THREAD_TYPES = frozenset({ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD})
#: Channels where messages can be posted directly (text-in-voice included).
MESSAGEABLE_TYPES = frozenset({GUILD_TEXT, GUILD_VOICE, GUILD_ANNOUNCEMENT, GUILD_STAGE_VOICE, *THREAD_TYPES})


@dataclass
class FakeUser:
    """A Discord user (discriminator "0": the post-2023 username system)."""

    id: int
    username: str
    global_name: str | None = None
    avatar: str | None = None
    bot: bool = False

    def to_dict(self) -> JSON:
        """Public user object."""
        data: JSON = {
            "id": str(self.id),
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": self.avatar,
            "avatar_decoration_data": None,
            "banner": None,
            "accent_color": None,
            "public_flags": 0,
            "flags": 0,
            "collectibles": None,
            "primary_guild": None,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass
class FakeRole:
    """A guild role; the @everyone role has the guild's id."""

    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    managed: bool = False
    bot_id: int | None = None

    def to_dict(self) -> JSON:
        """Role object."""
        data: JSON = {
            "id": str(self.id),
            "name": self.name,
            "description": None,
            "color": self.color,
            "colors": {"primary_color": self.color, "secondary_color": None, "tertiary_color": None},
            "hoist": self.hoist,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass
class FakeMember:
    """A guild member. ``permissions_override`` replaces the role-derived guild permissions."""

    user: FakeUser
    guild_id: int
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = ""
    permissions_override: int | None = None
    communication_disabled_until: str | None = None

    @property
    def id(self) -> int:
        """The member's user id."""
        return self.user.id

    def to_dict(self, *, with_user: bool = True, permissions: int | None = None) -> JSON:
        """Guild member object (``permissions`` is added in interaction payloads)."""
        data: JSON = {
            "avatar": None,
            "banner": None,
            "communication_disabled_until": self.communication_disabled_until,
            "deaf": False,
            "flags": 0,
            "joined_at": self.joined_at,
            "mute": False,
            "nick": self.nick,
            "pending": False,
            "premium_since": None,
            "roles": [str(r) for r in self.roles],
        }
        if with_user:
            data["user"] = self.user.to_dict()
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


@dataclass
class FakeChannel:
    """A guild channel or thread."""

    id: int
    guild_id: int
    type: int
    name: str
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    nsfw: bool = False
    overwrites: dict[int, Overwrite] = field(default_factory=dict)
    last_message_id: int | None = None
    rate_limit_per_user: int = 0
    default_auto_archive_duration: int = 4320
    # Thread-only fields.
    owner_id: int | None = None
    archived: bool = False
    locked: bool = False
    auto_archive_duration: int = 4320
    archive_timestamp: str | None = None
    invitable: bool = True
    message_count: int = 0
    total_message_sent: int = 0
    member_ids: set[int] = field(default_factory=set)
    applied_tags: list[int] = field(default_factory=list)
    available_tags: list[JSON] = field(default_factory=list)

    @property
    def is_thread(self) -> bool:
        """True for the three thread types."""
        return self.type in THREAD_TYPES

    def to_dict(self, *, include_guild_id: bool = True) -> JSON:
        """Channel object (thread fields for threads, forum fields for forums)."""
        data: JSON = {
            "id": str(self.id),
            "type": self.type,
            "name": self.name,
            "flags": 0,
            "last_message_id": str(self.last_message_id) if self.last_message_id else None,
            "rate_limit_per_user": self.rate_limit_per_user,
        }
        if include_guild_id:
            data["guild_id"] = str(self.guild_id)
        if self.is_thread:
            data.update(
                {
                    "parent_id": str(self.parent_id),
                    "owner_id": str(self.owner_id),
                    "message_count": self.message_count,
                    "member_count": len(self.member_ids),
                    "total_message_sent": self.total_message_sent,
                    "member_ids_preview": [str(m) for m in sorted(self.member_ids)][:8],
                    "thread_metadata": {
                        "archived": self.archived,
                        "auto_archive_duration": self.auto_archive_duration,
                        "archive_timestamp": self.archive_timestamp,
                        "locked": self.locked,
                        "create_timestamp": iso_at(snowflake_time(self.id)),
                        **({"invitable": self.invitable} if self.type == PRIVATE_THREAD else {}),
                    },
                    "applied_tags": [str(t) for t in self.applied_tags],
                }
            )
            return data
        data.update(
            {
                "position": self.position,
                "parent_id": str(self.parent_id) if self.parent_id else None,
                "permission_overwrites": [ow.to_dict() for ow in self.overwrites.values()],
                "nsfw": self.nsfw,
            }
        )
        if self.type in (GUILD_TEXT, GUILD_ANNOUNCEMENT, GUILD_FORUM, GUILD_MEDIA):
            data["topic"] = self.topic
            data["default_auto_archive_duration"] = self.default_auto_archive_duration
            data["default_thread_rate_limit_per_user"] = 0
        if self.type in (GUILD_VOICE, GUILD_STAGE_VOICE):
            data.update({"bitrate": 64000, "user_limit": 0, "rtc_region": None, "video_quality_mode": 1})
        if self.type in (GUILD_FORUM, GUILD_MEDIA):
            data.update(
                {
                    "available_tags": self.available_tags,
                    "default_reaction_emoji": None,
                    "default_sort_order": None,
                    "default_forum_layout": 0,
                    "template": "",
                }
            )
        return data


@dataclass
class FakeGuild:
    """A guild with its roles, members, channels and threads."""

    id: int
    name: str
    owner_id: int
    roles: dict[int, FakeRole] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    threads: dict[int, FakeChannel] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)
    locale: str = "en-US"
    text_channel: FakeChannel = field(init=False)
    bot_role: FakeRole | None = None
    joined_at: str = ""

    @property
    def everyone_role(self) -> FakeRole:
        """The @everyone role (id == guild id)."""
        return self.roles[self.id]

    def channel(self, channel_id: int) -> FakeChannel | None:
        """A channel or thread of this guild."""
        return self.channels.get(channel_id) or self.threads.get(channel_id)

    def summary(self) -> JSON:
        """The partial guild found in interaction payloads."""
        return {"id": str(self.id), "features": list(self.features), "locale": self.locale}

    def to_dict(self) -> JSON:
        """Guild object (without the GUILD_CREATE extras).

        Carries every field spec GuildResponse/GuildWithCountsResponse (discord-api-spec commit
        74fda0fad044407ea280043a03ffc9bc64c4e49e) lists as required, home_header, region and
        widget_channel_id included.
        """
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "icon_hash": None,
            "home_header": None,
            "region": "deprecated",  # docs resources/guild#guild-object: voice region id, deprecated
            "widget_channel_id": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.to_dict() for r in sorted(self.roles.values(), key=lambda r: r.position)],
            "emojis": [],
            "stickers": [],
            "features": list(self.features),
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": str(self.text_channel.id),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_members": 500000,
            "max_presences": None,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "vanity_url_code": None,
            "description": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": self.locale,
            "nsfw": False,
            "nsfw_level": 0,
            "incidents_data": None,
        }


@dataclass
class StoredMessage:
    """A message as Discord stores it, plus bookkeeping the wire object does not carry."""

    data: JSON
    channel_id: int
    ephemeral: bool = False
    interaction_id: int | None = None
    deleted: bool = False
    files: list[RecordedFile] = field(default_factory=list)


class RecordedFile(NamedTuple):
    """One uploaded file: multipart field name, filename, content bytes, declared content type."""

    field: str
    filename: str
    data: bytes
    content_type: str


@dataclass
class RecordedRequest:
    """One REST request as the fake saw it (also the rejected ones)."""

    t: float
    method: str
    path: str
    route: str
    params: dict[str, str]
    json: Any
    files: list[RecordedFile]
    headers: dict[str, str]
    status: int = 0
    response: Any = None
    response_headers: dict[str, str] = field(default_factory=dict)
    path_params: dict[str, str] = field(default_factory=dict)
    finished_at: float = 0.0


@dataclass
class AckRecord:
    """The first (accepted) interaction callback."""

    type: int
    data: JSON | None
    t: float


@dataclass
class FakeInteraction:
    """An interaction the fake dispatched; tracks acknowledgement, original response and followups."""

    id: int
    token: str
    type: int
    application_id: int
    guild_id: int | None
    channel_id: int
    user_id: int
    payload: JSON
    created_at: float
    _fake: FakeDiscord = field(repr=False)
    dispatched_at: float | None = None
    shard_id: int = 0
    ack: AckRecord | None = None
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    callback_attempts: list[float] = field(default_factory=list)
    #: For a modal submit (type 5): the interaction that was answered with the modal.
    triggered_by: int | None = None
    _ack_event: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def ack_type(self) -> int | None:
        """Callback type of the acknowledgement, if any."""
        return self.ack.type if self.ack else None

    @property
    def age(self) -> float:
        """Seconds since the interaction was created."""
        return time.monotonic() - self.created_at

    @property
    def original_message(self) -> JSON | None:
        """The current original response message (None before it exists or after deletion)."""
        if self.original_message_id is None:
            return None
        return self._fake.message(self.original_message_id)

    @property
    def followups(self) -> list[JSON]:
        """Followup messages still existing, oldest first."""
        found = (self._fake.message(mid) for mid in self.followup_ids)
        return [m for m in found if m is not None]

    async def wait_for_ack(self, timeout: float = 5.0) -> AckRecord:  # noqa: ASYNC109 - public API
        """Wait until the bot acknowledged the interaction (any callback type)."""
        await asyncio.wait_for(self._ack_event.wait(), timeout)
        assert self.ack is not None
        return self.ack

    async def wait_for_followups(self, count: int, timeout: float = 5.0) -> list[JSON]:  # noqa: ASYNC109
        """Wait until at least ``count`` followups exist."""

        async def watch() -> list[JSON]:
            while len(self.followups) < count:
                await self._fake.messages_changed().wait()
            return self.followups

        return await asyncio.wait_for(watch(), timeout)


@dataclass
class Ping:
    """A mention that would have notified someone."""

    kind: str  # "everyone", "here", "user", "role" or "reply"
    target_id: int | None
    message_id: int
    channel_id: int
    guild_id: int | None
    route: str
    t: float
    silent: bool = False

    def to_dict(self) -> JSON:
        """Plain dict form (what ``FakeDiscord.pings`` returns)."""
        return {
            "kind": self.kind,
            "id": self.target_id,
            "message_id": self.message_id,
            "channel_id": self.channel_id,
            "guild_id": self.guild_id,
            "route": self.route,
            "t": self.t,
            "silent": self.silent,
        }
