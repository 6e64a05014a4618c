"""Permission bits and Discord's documented permission computation."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class Permission(enum.IntFlag):
    """Discord permission bits (API v10)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    PRIORITY_SPEAKER = 1 << 8
    STREAM = 1 << 9
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    VIEW_GUILD_INSIGHTS = 1 << 19
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    MUTE_MEMBERS = 1 << 22
    DEAFEN_MEMBERS = 1 << 23
    MOVE_MEMBERS = 1 << 24
    USE_VAD = 1 << 25
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    MANAGE_GUILD_EXPRESSIONS = 1 << 30
    USE_APPLICATION_COMMANDS = 1 << 31
    REQUEST_TO_SPEAK = 1 << 32
    MANAGE_EVENTS = 1 << 33
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    USE_EXTERNAL_STICKERS = 1 << 37
    SEND_MESSAGES_IN_THREADS = 1 << 38
    USE_EMBEDDED_ACTIVITIES = 1 << 39
    MODERATE_MEMBERS = 1 << 40
    VIEW_CREATOR_MONETIZATION_ANALYTICS = 1 << 41
    USE_SOUNDBOARD = 1 << 42
    CREATE_GUILD_EXPRESSIONS = 1 << 43
    CREATE_EVENTS = 1 << 44
    USE_EXTERNAL_SOUNDS = 1 << 45
    SEND_VOICE_MESSAGES = 1 << 46
    SET_VOICE_CHANNEL_STATUS = 1 << 48
    SEND_POLLS = 1 << 49
    USE_EXTERNAL_APPS = 1 << 50
    PIN_MESSAGES = 1 << 51
    BYPASS_SLOWMODE = 1 << 52


ALL_PERMISSIONS = 0
for _bit in Permission:
    ALL_PERMISSIONS |= int(_bit)

#: What the bot's invite link grants (the bot's managed role).
DEFAULT_BOT_PERMISSIONS = int(
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.CREATE_PUBLIC_THREADS
    | Permission.SEND_MESSAGES_IN_THREADS
)

#: @everyone in a freshly created community-less guild.
DEFAULT_EVERYONE_PERMISSIONS = int(
    Permission.CREATE_INSTANT_INVITE
    | Permission.ADD_REACTIONS
    | Permission.STREAM
    | Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.MENTION_EVERYONE
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.CONNECT
    | Permission.SPEAK
    | Permission.USE_VAD
    | Permission.CHANGE_NICKNAME
    | Permission.USE_APPLICATION_COMMANDS
    | Permission.REQUEST_TO_SPEAK
    | Permission.CREATE_PUBLIC_THREADS
    | Permission.CREATE_PRIVATE_THREADS
    | Permission.USE_EXTERNAL_STICKERS
    | Permission.SEND_MESSAGES_IN_THREADS
    | Permission.USE_EMBEDDED_ACTIVITIES
    | Permission.USE_SOUNDBOARD
    | Permission.CREATE_GUILD_EXPRESSIONS
    | Permission.CREATE_EVENTS
    | Permission.USE_EXTERNAL_SOUNDS
    | Permission.SEND_VOICE_MESSAGES
    | Permission.SEND_POLLS
    | Permission.USE_EXTERNAL_APPS
)

#: Lost implicitly when SEND_MESSAGES is denied in a text-capable channel.
_NEEDS_SEND_MESSAGES = int(
    Permission.MENTION_EVERYONE
    | Permission.SEND_TTS_MESSAGES
    | Permission.ATTACH_FILES
    | Permission.EMBED_LINKS
)
#: The only permissions a timed-out member keeps.
_TIMEOUT_KEEPS = int(Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY)

OVERWRITE_ROLE = 0
OVERWRITE_MEMBER = 1


@dataclass(frozen=True)
class Overwrite:
    """A channel permission overwrite for a role (type 0) or a member (type 1)."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0

    def to_dict(self) -> dict[str, object]:
        """Discord's wire shape (permissions as strings)."""
        return {"id": str(self.id), "type": self.type, "allow": str(self.allow), "deny": str(self.deny)}


def base_permissions(
    *,
    user_id: int,
    owner_id: int,
    everyone_permissions: int,
    role_permissions: Iterable[int],
    override: int | None = None,
) -> int:
    """Guild-level permissions: owner → all; @everyone | member roles; ADMINISTRATOR → all."""
    if user_id == owner_id:
        return ALL_PERMISSIONS
    perms = override if override is not None else everyone_permissions
    if override is None:
        for value in role_permissions:
            perms |= value
    if perms & Permission.ADMINISTRATOR:
        return ALL_PERMISSIONS
    return perms


def apply_overwrites(
    base: int,
    *,
    guild_id: int,
    user_id: int,
    role_ids: Iterable[int],
    overwrites: Mapping[int, Overwrite],
) -> int:
    """Apply channel overwrites in Discord's order: @everyone, then all roles together, then the member."""
    if base & Permission.ADMINISTRATOR:
        return ALL_PERMISSIONS
    perms = base
    everyone = overwrites.get(guild_id)
    if everyone is not None:
        perms &= ~everyone.deny
        perms |= everyone.allow
    allow = deny = 0
    for role_id in role_ids:
        ow = overwrites.get(role_id)
        if ow is not None and ow.type == OVERWRITE_ROLE:
            allow |= ow.allow
            deny |= ow.deny
    perms &= ~deny
    perms |= allow
    member = overwrites.get(user_id)
    if member is not None and member.type == OVERWRITE_MEMBER:
        perms &= ~member.deny
        perms |= member.allow
    return perms


def apply_implicit(perms: int, *, text_capable: bool, timed_out: bool = False, thread: bool = False) -> int:
    """Implicit denials: no VIEW_CHANNEL → nothing; can't send → no mention/attach/embed/tts.

    In a thread "can send" means SEND_MESSAGES_IN_THREADS (the parent's SEND_MESSAGES does not matter there).
    """
    if perms == ALL_PERMISSIONS:
        return perms
    if timed_out:
        perms &= _TIMEOUT_KEEPS
    if not perms & Permission.VIEW_CHANNEL:
        return 0
    send = Permission.SEND_MESSAGES_IN_THREADS if thread else Permission.SEND_MESSAGES
    if (text_capable or thread) and not perms & send:
        perms &= ~_NEEDS_SEND_MESSAGES
    return perms


def has(perms: int, needed: int) -> bool:
    """True when every bit of ``needed`` is set in ``perms``."""
    return perms & needed == needed
