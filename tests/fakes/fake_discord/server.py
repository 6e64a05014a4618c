"""``FakeDiscord``: a loopback Discord (REST v10 + gateway) with inspectable state."""

from __future__ import annotations

import asyncio
import copy
import json
import random
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import BodyPartReader, web

from . import errors
from .components import TEXT_DISPLAY, all_components, with_ids
from .errors import DiscordHTTPError
from .gateway import INTENT_GUILD_MEMBERS, INTENT_GUILD_MESSAGES, INTENT_GUILDS, Gateway, GatewaySession
from .mentions import MentionResult, resolve_mentions
from .models import (
    GUILD_TEXT,
    JSON,
    MESSAGEABLE_TYPES,
    PRIVATE_THREAD,
    THREAD_TYPES,
    AckRecord,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeRole,
    FakeUser,
    Ping,
    RecordedFile,
    RecordedRequest,
    StoredMessage,
)
from .permissions import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    OVERWRITE_MEMBER,
    OVERWRITE_ROLE,
    Overwrite,
    Permission,
    apply_implicit,
    apply_overwrites,
    base_permissions,
    has,
)
from .ratelimit import DEFAULT_GLOBAL_LIMIT, RateLimiter
from .rest import RestRoutes
from .snowflake import SnowflakeGenerator, iso_now, shard_for
from .validation import (
    CREATE_FLAGS,
    FLAG_EPHEMERAL,
    FLAG_IS_COMPONENTS_V2,
    FLAG_LOADING,
    FLAG_SUPPRESS_EMBEDS,
    FLAG_SUPPRESS_NOTIFICATIONS,
)

API_PREFIX = "/api/v10"
# Docs resources/message#create-message, enforce_nonce: the nonce "will be checked for uniqueness in the past
# few minutes"; the exact window is not published.
NONCE_WINDOW_S = 300.0
MESSAGE_FLAG_HAS_THREAD = 1 << 5

# Application flags Discord sets when a privileged intent is enabled for a verified-less bot.
_APP_FLAG_PRESENCE_LIMITED = 1 << 13
_APP_FLAG_GUILD_MEMBERS_LIMITED = 1 << 15
_APP_FLAG_MESSAGE_CONTENT_LIMITED = 1 << 19
_APP_FLAG_COMMAND_BADGE = 1 << 23


class FakeDiscord:
    """A loopback Discord for the real discord.py: REST under ``api_base``, the gateway at ``gateway_url``.

    Options: ``shard_count`` (what ``/gateway/bot`` recommends), ``latency_s`` (added to every REST
    response; a ``(low, high)`` pair draws each request's latency uniformly from that range, seeded by
    ``latency_seed``), ``rate_limits`` (False: never 429, headers still sent), ``bucket_limits`` (name →
    (requests, seconds), see ``ratelimit.DEFAULT_BUCKETS``), ``global_limit``, ``token_lifetime_s``
    (interaction webhooks, 15 min), ``interaction_deadline_s`` (first response, 3 s),
    ``privileged_intents`` (intent bits enabled for the app), ``bot_permissions`` (the bot role's grant).
    All ``t``/``created_at`` timestamps are ``time.monotonic()`` values.
    """

    def __init__(
        self,
        token: str = "test-discord-token",
        *,
        shard_count: int = 1,
        latency_s: float | tuple[float, float] = 0.0,
        latency_seed: int = 0,
        rate_limits: bool = True,
        bucket_limits: Mapping[str, tuple[int, float]] | None = None,
        global_limit: tuple[int, float] = DEFAULT_GLOBAL_LIMIT,
        token_lifetime_s: float = 900.0,
        interaction_deadline_s: float = 3.0,
        heartbeat_interval_ms: int = 41250,
        privileged_intents: int = 0,
        resume_window_s: float = 60.0,
        bot_username: str = "Parley",
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        host: str = "127.0.0.1",
    ) -> None:
        self.token = token
        self.shard_count = shard_count
        self.latency_s = latency_s
        self._latency_rng = random.Random(latency_seed)
        self.token_lifetime_s = token_lifetime_s
        self.interaction_deadline_s = interaction_deadline_s
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.privileged_intents = privileged_intents
        self.resume_window_s = resume_window_s
        self.bot_permissions = bot_permissions
        self.host = host
        self.ratelimiter = RateLimiter(enabled=rate_limits, buckets=bucket_limits, global_limit=global_limit)
        self.ids = SnowflakeGenerator()
        self.application_id = self.ids.next()
        self.verify_key = secrets.token_hex(32)  # the app's public key, hex encoded (stable per app)
        self.bot_user_id = self.application_id  # Discord gives a bot user the application's id.
        self.bot_user = FakeUser(id=self.bot_user_id, username=bot_username, bot=True)
        self.owner_user = FakeUser(id=self.ids.next(), username="app-owner", global_name="App Owner")
        self.guilds: dict[int, FakeGuild] = {}
        self.users: dict[int, FakeUser] = {
            self.bot_user.id: self.bot_user,
            self.owner_user.id: self.owner_user,
        }
        self.global_commands: list[JSON] = []
        self.guild_commands: dict[int, list[JSON]] = {}
        self.command_overrides: dict[tuple[int, str], set[int]] = {}
        self.interactions: dict[int, FakeInteraction] = {}
        self.interactions_by_token: dict[str, FakeInteraction] = {}
        self.autocomplete_results: dict[int, list[JSON]] = {}
        self.modals: dict[int, JSON] = {}
        self.cdn: dict[str, tuple[bytes, str]] = {}
        self._messages: dict[int, StoredMessage] = {}
        self._channel_messages: dict[int, list[int]] = {}
        self._requests: list[RecordedRequest] = []
        self._request_waiters: list[
            tuple[Callable[[RecordedRequest], bool], asyncio.Future[RecordedRequest]]
        ] = []
        self._faults: dict[str, deque[tuple[int, JSON]]] = {}
        self._pings: list[Ping] = []
        #: (author id, nonce) -> (message id, monotonic time) of channel messages sent with a nonce.
        self._nonces: dict[tuple[int, str], tuple[int, float]] = {}
        self._messages_changed = asyncio.Event()
        self.gateway = Gateway(self)
        self._runner: web.AppRunner | None = None
        self._port = 0
        self.routes = RestRoutes(self)

    # ---- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        """Bind a loopback port and start serving REST and the gateway."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", API_PREFIX + "{tail:/.*}", self._handle_api)
        app.router.add_route("*", "/api/{tail:.*}", self._handle_other_api)
        app.router.add_get("/", self.gateway.handle)
        app.router.add_get("/resume", self.gateway.handle)
        app.router.add_get("/attachments/{key:.+}", self._handle_cdn)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self._port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()
        return self

    async def close(self) -> None:
        """Close websockets, stop the server, fail pending waiters."""
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for _, fut in self._request_waiters:
            if not fut.done():
                fut.cancel()
        self._request_waiters.clear()

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- addresses -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (0 before ``start``)."""
        return self._port

    @property
    def base_url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self._port}"

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` should be."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """What ``GET /gateway/bot`` returns (and ``DiscordWebSocket.DEFAULT_GATEWAY`` should be)."""
        return f"ws://{self.host}:{self._port}"

    @property
    def resume_gateway_url(self) -> str:
        """The ``resume_gateway_url`` sent in READY."""
        return f"ws://{self.host}:{self._port}/resume"

    @property
    def application_flags(self) -> int:
        """Application flags derived from the enabled privileged intents."""
        flags = _APP_FLAG_COMMAND_BADGE
        if self.privileged_intents & (1 << 8):
            flags |= _APP_FLAG_PRESENCE_LIMITED
        if self.privileged_intents & (1 << 1):
            flags |= _APP_FLAG_GUILD_MEMBERS_LIMITED
        if self.privileged_intents & (1 << 15):
            flags |= _APP_FLAG_MESSAGE_CONTENT_LIMITED
        return flags

    # ---- inspection ------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every REST request so far (rejected ones too), in completion order."""
        return list(self._requests)

    @property
    def pings(self) -> list[JSON]:
        """Every mention that would have notified someone."""
        return [p.to_dict() for p in self._pings]

    @property
    def threads(self) -> dict[int, JSON]:
        """All threads (channel objects) by id."""
        return {tid: t.to_dict() for g in self.guilds.values() for tid, t in g.threads.items()}

    def messages_changed(self) -> asyncio.Event:
        """An event set at the next message create/edit/delete."""
        return self._messages_changed

    def _signal_messages(self) -> None:
        self._messages_changed.set()
        self._messages_changed = asyncio.Event()

    def message(self, message_id: int) -> JSON | None:
        """A stored message (ephemeral ones included), or None when unknown or deleted."""
        stored = self._messages.get(message_id)
        if stored is None or stored.deleted:
            return None
        return copy.deepcopy(stored.data)

    def channel_messages(self, channel_id: int) -> list[JSON]:
        """Messages visible in a channel's history, oldest first (no ephemeral ones)."""
        return [copy.deepcopy(self._messages[mid].data) for mid in self._channel_messages.get(channel_id, [])]

    def commands(self, guild_id: int | None = None) -> list[JSON]:
        """Registered commands (global, or one guild's) as Discord returns them."""
        stored = self.global_commands if guild_id is None else self.guild_commands.get(guild_id, [])
        return copy.deepcopy(stored)

    def interaction(self, interaction_id: int) -> FakeInteraction:
        """A dispatched interaction by id."""
        return self.interactions[interaction_id]

    def uploaded_file(self, url: str) -> bytes:
        """Bytes behind an attachment URL the fake handed out."""
        key = url.split("/attachments/", 1)[1]
        return self.cdn[key][0]

    async def wait_for_request(
        self,
        predicate: Callable[[RecordedRequest], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - public API mirrors the other wait helpers
    ) -> RecordedRequest:
        """The first past or future request matching ``predicate``."""
        for req in self._requests:
            if predicate(req):
                return req
        fut: asyncio.Future[RecordedRequest] = asyncio.get_running_loop().create_future()
        entry = (predicate, fut)
        self._request_waiters.append(entry)
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            if entry in self._request_waiters:
                self._request_waiters.remove(entry)

    async def wait_until_ready(
        self,
        timeout: float = 10.0,  # noqa: ASYNC109 - public API
        *,
        shard_ids: Iterable[int] | None = None,
    ) -> None:
        """Wait until each shard (default: all ``shard_count``) has an identified session that got READY."""
        wanted = list(range(self.shard_count)) if shard_ids is None else list(shard_ids)
        await asyncio.wait_for(self.gateway.wait_until_ready(wanted), timeout)

    def fail_next(self, route: str, status: int, body: Mapping[str, Any], count: int = 1) -> None:
        """Answer the next ``count`` requests on a templated route with ``status``/``body``.

        ``route`` is a key like ``"POST /channels/{channel_id}/messages"``.
        """
        if not self.routes.router.knows(route):
            raise ValueError(f"unknown route {route!r}; known: {sorted(self.routes.router.keys())}")
        queue = self._faults.setdefault(route, deque())
        for _ in range(count):
            queue.append((status, dict(body)))

    # ---- gateway controls ------------------------------------------------------------------------

    def disconnect_shard(self, shard_id: int = 0, code: int = 4000) -> None:
        """Close a shard's websocket from the server side (its session stays resumable)."""
        self.gateway.disconnect(shard_id, code)

    def request_reconnect(self, shard_id: int = 0) -> None:
        """Send op 7 RECONNECT."""
        self.gateway.request_reconnect(shard_id)

    def invalidate_session(self, shard_id: int = 0, *, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION."""
        self.gateway.invalidate_session(shard_id, resumable=resumable)

    def shard_for(self, guild_id: int) -> int:
        """The shard owning a guild for the configured ``shard_count``."""
        return shard_for(guild_id, self.shard_count)

    def dispatch(self, event: str, data: JSON, *, guild_id: int | None, intent: int | None = None) -> int:
        """Send a raw dispatch to the shard(s) owning ``guild_id``; returns how many sessions got it."""
        return len(self.gateway.dispatch(event, data, guild_id=guild_id, intent=intent))

    # ---- world building --------------------------------------------------------------------------

    def add_guild(
        self,
        name: str = "Parley Test",
        *,
        shard_id: int | None = None,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
        with_bot: bool = True,
        features: Iterable[str] = (),
        locale: str = "en-US",
    ) -> FakeGuild:
        """A guild with @everyone, an owner, a #general text channel and (by default) the bot."""
        if shard_id is not None:
            if not 0 <= shard_id < self.shard_count:
                raise ValueError(f"shard_id must be in [0, {self.shard_count})")
            gid = self.ids.next_on_shard(shard_id, self.shard_count)
        else:
            gid = self.ids.next()
        owner = FakeUser(id=self.ids.next(), username=f"owner-{len(self.guilds) + 1}", global_name="Owner")
        self.users[owner.id] = owner
        guild = FakeGuild(id=gid, name=name, owner_id=owner.id, features=list(features), locale=locale)
        guild.roles[gid] = FakeRole(id=gid, guild_id=gid, name="@everyone", permissions=everyone_permissions)
        guild.members[owner.id] = FakeMember(user=owner, guild_id=gid, joined_at=iso_now())
        text = FakeChannel(id=self.ids.next(), guild_id=gid, type=GUILD_TEXT, name="general")
        guild.channels[text.id] = text
        guild.text_channel = text
        self.guilds[gid] = guild
        if with_bot:
            self.add_bot_to_guild(guild)
        return guild

    def add_bot_to_guild(self, guild: FakeGuild) -> None:
        """Install the bot: its managed role (invite permissions) and member; GUILD_CREATE if connected."""
        role = FakeRole(
            id=self.ids.next(),
            guild_id=guild.id,
            name=self.bot_user.username,
            permissions=self.bot_permissions,
            position=1,
            managed=True,
            bot_id=self.bot_user_id,
        )
        guild.roles[role.id] = role
        guild.bot_role = role
        guild.joined_at = iso_now()
        guild.members[self.bot_user_id] = FakeMember(
            user=self.bot_user, guild_id=guild.id, roles=[role.id], joined_at=guild.joined_at
        )
        for session in self._sessions_for(guild.id):
            session.dispatch("GUILD_CREATE", self.guild_create_payload(guild, session.intents))

    def remove_bot_from_guild(self, guild: FakeGuild) -> None:
        """The bot is kicked (or leaves): its member and managed role go, and the shard owning the guild
        gets GUILD_DELETE.

        Discord's gateway docs (https://discord.com/developers/docs/events/gateway-events#guild-delete):
        GUILD_DELETE is sent "when the user leaves or is removed from a guild"; its payload is an
        unavailable guild object, and "if the `unavailable` field is not set, the user was removed from
        the guild". The event belongs to the GUILDS intent (…/events/gateway#list-of-intents). The
        guild itself remains; later READYs leave it out, as they list only the bot's guilds.
        """
        guild.members.pop(self.bot_user_id, None)
        if guild.bot_role is not None:
            guild.roles.pop(guild.bot_role.id, None)
            guild.bot_role = None
        self.gateway.dispatch("GUILD_DELETE", {"id": str(guild.id)}, guild_id=guild.id, intent=INTENT_GUILDS)

    def add_role(
        self,
        guild: FakeGuild,
        name: str,
        permissions: int = 0,
        *,
        mentionable: bool = False,
        color: int = 0,
        hoist: bool = False,
    ) -> FakeRole:
        """A new role above the existing ones."""
        role = FakeRole(
            id=self.ids.next(),
            guild_id=guild.id,
            name=name,
            permissions=int(permissions),
            position=max(r.position for r in guild.roles.values()) + 1,
            color=color,
            hoist=hoist,
            mentionable=mentionable,
        )
        guild.roles[role.id] = role
        self.gateway.dispatch(
            "GUILD_ROLE_CREATE",
            {"guild_id": str(guild.id), "role": role.to_dict()},
            guild_id=guild.id,
            intent=INTENT_GUILDS,
        )
        return role

    def set_role_permissions(self, role: FakeRole, permissions: int) -> None:
        """Change a role's permissions (GUILD_ROLE_UPDATE)."""
        role.permissions = int(permissions)
        self.gateway.dispatch(
            "GUILD_ROLE_UPDATE",
            {"guild_id": str(role.guild_id), "role": role.to_dict()},
            guild_id=role.guild_id,
            intent=INTENT_GUILDS,
        )

    def allow_command(self, guild: FakeGuild, name: str, *, role_or_user_id: int) -> None:
        """What a server admin does in Server Settings → Integrations: let a role (the guild id for
        @everyone) or a member use command ``name`` whatever its ``default_member_permissions``."""
        self.command_overrides.setdefault((guild.id, name), set()).add(role_or_user_id)

    def add_member(
        self,
        guild: FakeGuild,
        username: str,
        roles: Iterable[FakeRole | int] = (),
        permissions: int | None = None,
        *,
        global_name: str | None = None,
        nick: str | None = None,
        bot: bool = False,
    ) -> FakeMember:
        """A new member; ``permissions`` (if given) replaces their role-derived guild permissions."""
        user = FakeUser(
            id=self.ids.next(), username=username, global_name=global_name or username.title(), bot=bot
        )
        self.users[user.id] = user
        role_ids = [r.id if isinstance(r, FakeRole) else int(r) for r in roles]
        for rid in role_ids:
            if rid not in guild.roles:
                raise ValueError(f"role {rid} is not in guild {guild.id}")
        member = FakeMember(
            user=user,
            guild_id=guild.id,
            roles=role_ids,
            nick=nick,
            joined_at=iso_now(),
            permissions_override=None if permissions is None else int(permissions),
        )
        guild.members[user.id] = member
        self.gateway.dispatch(
            "GUILD_MEMBER_ADD",
            {**member.to_dict(), "guild_id": str(guild.id)},
            guild_id=guild.id,
            intent=INTENT_GUILD_MEMBERS,
        )
        return member

    def add_channel(
        self,
        guild: FakeGuild,
        name: str,
        type: int = GUILD_TEXT,
        overwrites: Iterable[Overwrite | Mapping[str, Any]] = (),
        *,
        parent: FakeChannel | None = None,
        topic: str | None = None,
        nsfw: bool = False,
    ) -> FakeChannel:
        """A text (0), voice (2), category (4), announcement (5), forum (15)… channel."""
        if type in THREAD_TYPES:
            raise ValueError("use add_thread for threads")
        channel = FakeChannel(
            id=self.ids.next(),
            guild_id=guild.id,
            type=type,
            name=name,
            position=len(guild.channels),
            parent_id=parent.id if parent else None,
            topic=topic,
            nsfw=nsfw,
        )
        for ow in overwrites:
            parsed = ow if isinstance(ow, Overwrite) else _overwrite_from_mapping(ow)
            channel.overwrites[parsed.id] = parsed
        guild.channels[channel.id] = channel
        self.gateway.dispatch("CHANNEL_CREATE", channel.to_dict(), guild_id=guild.id, intent=INTENT_GUILDS)
        return channel

    def add_thread(
        self,
        parent: FakeChannel,
        name: str,
        *,
        type: int = 11,
        owner: FakeMember | None = None,
        archived: bool = False,
        locked: bool = False,
    ) -> FakeChannel:
        """A thread created by someone else (THREAD_CREATE is sent to the bot)."""
        guild = self.guilds[parent.guild_id]
        owner_id = owner.id if owner else guild.owner_id
        thread = self._new_thread(parent, name=name, type=type, owner_id=owner_id, thread_id=self.ids.next())
        thread.archived = archived
        thread.locked = locked
        self._announce_thread(thread, creator_is_bot=False)
        return thread

    def set_permission_overwrite(
        self,
        channel: FakeChannel | int,
        target: FakeRole | FakeMember | FakeUser | int,
        *,
        allow: int = 0,
        deny: int = 0,
        type: int | None = None,
    ) -> None:
        """Set (replace) one overwrite on a channel; sends CHANNEL_UPDATE."""
        ch = channel if isinstance(channel, FakeChannel) else self._find_channel(int(channel))
        if ch is None:
            raise KeyError(f"unknown channel {channel}")
        if ch.is_thread:
            raise ValueError("threads have no overwrites; they inherit the parent's permissions")
        if isinstance(target, FakeRole):
            ow_type, tid = OVERWRITE_ROLE, target.id
        elif isinstance(target, FakeMember | FakeUser):
            ow_type, tid = OVERWRITE_MEMBER, target.id
        else:
            tid = int(target)
            ow_type = (
                type
                if type is not None
                else (OVERWRITE_ROLE if tid in self.guilds[ch.guild_id].roles else OVERWRITE_MEMBER)
            )
        ch.overwrites[tid] = Overwrite(id=tid, type=ow_type, allow=int(allow), deny=int(deny))
        self.gateway.dispatch("CHANNEL_UPDATE", ch.to_dict(), guild_id=ch.guild_id, intent=INTENT_GUILDS)

    def set_bot_permissions(self, channel_id: int, allow: int = 0, deny: int = 0) -> None:
        """Convenience: a member overwrite for the bot on one channel."""
        self.set_permission_overwrite(
            channel_id, self.bot_user_id, allow=allow, deny=deny, type=OVERWRITE_MEMBER
        )

    def post_user_message(
        self, channel: FakeChannel, member: FakeMember, content: str, *, allowed_mentions: JSON | None = None
    ) -> JSON:
        """A message from a (human) member; MESSAGE_CREATE goes to bots with GUILD_MESSAGES."""
        stored = self.create_message(
            channel=channel,
            payload={"content": content, "allowed_mentions": allowed_mentions},
            files=[],
            author=member.user,
            route="user",
        )
        return copy.deepcopy(stored.data)

    # ---- permissions -----------------------------------------------------------------------------

    def guild_permissions(self, guild: FakeGuild, user_id: int) -> int:
        """Guild-level permissions of a member."""
        member = guild.members.get(user_id)
        if member is None:
            return 0
        roles = [guild.roles[r].permissions for r in member.roles if r in guild.roles]
        return base_permissions(
            user_id=user_id,
            owner_id=guild.owner_id,
            everyone_permissions=guild.everyone_role.permissions,
            role_permissions=roles,
            override=member.permissions_override,
        )

    def permissions_for(self, user: FakeMember | FakeUser | int, channel: FakeChannel | int) -> int:
        """Computed channel permissions of a member, exactly as Discord documents the algorithm."""
        uid = user if isinstance(user, int) else user.id
        ch = channel if isinstance(channel, FakeChannel) else self._find_channel(int(channel))
        if ch is None:
            return 0
        guild = self.guilds[ch.guild_id]
        member = guild.members.get(uid)
        if member is None:
            return 0
        source = ch
        if ch.is_thread:
            parent = guild.channels.get(ch.parent_id or 0)
            if parent is None:
                return 0
            source = parent
        base = self.guild_permissions(guild, uid)
        perms = apply_overwrites(
            base, guild_id=guild.id, user_id=uid, role_ids=member.roles, overwrites=source.overwrites
        )
        timed_out = member.communication_disabled_until is not None and uid != guild.owner_id
        perms = apply_implicit(
            perms, text_capable=source.type in MESSAGEABLE_TYPES, timed_out=timed_out, thread=ch.is_thread
        )
        if (
            ch.type == PRIVATE_THREAD
            and perms
            and uid not in ch.member_ids
            and not has(perms, Permission.MANAGE_THREADS)
        ):
            return 0
        return perms

    def bot_permissions_in(self, channel: FakeChannel) -> int:
        """The bot's computed permissions in a channel."""
        return self.permissions_for(self.bot_user_id, channel)

    # ---- helpers used by routes ------------------------------------------------------------------

    def _find_channel(self, channel_id: int) -> FakeChannel | None:
        for guild in self.guilds.values():
            ch = guild.channel(channel_id)
            if ch is not None:
                return ch
        return None

    def _sessions_for(self, guild_id: int) -> list[GatewaySession]:
        return [
            s
            for s in self.gateway.sessions.values()
            if (s.connection is not None or s.resumable) and s.ready.is_set() and s.owns(guild_id)
        ]

    def bot_user_payload(self) -> JSON:
        """The bot's own user object (READY, /users/@me)."""
        data = self.bot_user.to_dict()
        data.update({"verified": True, "mfa_enabled": False, "email": None, "locale": "en-US", "flags": 0})
        return data

    def guild_create_payload(self, guild: FakeGuild, intents: int) -> JSON:
        """A full GUILD_CREATE for a session with ``intents``."""
        data = guild.to_dict()
        members = list(guild.members.values()) if intents & (1 << 8) else [guild.members[self.bot_user_id]]
        data.update(
            {
                "joined_at": guild.joined_at,
                "large": False,
                "unavailable": False,
                "lazy": True,
                "member_count": len(guild.members),
                "voice_states": [],
                "members": [m.to_dict() for m in members],
                "channels": [c.to_dict(include_guild_id=False) for c in guild.channels.values()],
                "threads": [t.to_dict() for t in guild.threads.values() if not t.archived],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
                "embedded_activities": [],
                "activity_instances": [],
                "version": int(time.time() * 1000),
            }
        )
        return data

    def record_request(self, req: RecordedRequest) -> None:
        """Store a finished request and wake matching waiters."""
        self._requests.append(req)
        for predicate, fut in list(self._request_waiters):
            if not fut.done():
                try:
                    matched = predicate(req)
                except Exception as exc:
                    fut.set_exception(exc)
                    continue
                if matched:
                    fut.set_result(req)

    def take_fault(self, route: str) -> tuple[int, JSON] | None:
        """Pop an injected failure for a route."""
        queue = self._faults.get(route)
        if queue:
            return queue.popleft()
        return None

    # ---- messages --------------------------------------------------------------------------------

    def message_with_nonce(self, author_id: int, nonce: object, now: float) -> StoredMessage | None:
        """The message ``author_id`` created with ``nonce`` within ``NONCE_WINDOW_S``, if it still exists."""
        found = self._nonces.get((author_id, str(nonce)))
        if found is None or now - found[1] > NONCE_WINDOW_S:
            return None
        return self.stored(found[0])

    def remember_nonce(self, author_id: int, nonce: object, message_id: int, now: float) -> None:
        """Record a created message's nonce for ``enforce_nonce``."""
        self._nonces[(author_id, str(nonce))] = (message_id, now)

    def stored(self, message_id: int) -> StoredMessage | None:
        """Internal stored message (not deleted)."""
        stored = self._messages.get(message_id)
        return None if stored is None or stored.deleted else stored

    def _attachments(self, channel_id: int, payload: JSON, files: list[RecordedFile]) -> list[JSON]:
        """Attachment objects for uploaded ``files[n]`` (metadata from ``attachments`` entry ``n``)."""
        meta_by_index: dict[int, JSON] = {}
        for att in payload.get("attachments") or []:
            ref = str(att.get("id")) if isinstance(att, dict) else ""
            if ref.isdigit() and int(ref) < len(files):
                meta_by_index[int(ref)] = att
        out: list[JSON] = []
        for index, f in enumerate(files):
            meta = meta_by_index.get(index, {})
            att_id = self.ids.next()
            filename = str(meta.get("filename") or f.filename)
            key = f"{channel_id}/{att_id}/{filename}"
            self.cdn[key] = (f.data, f.content_type)
            url = f"{self.base_url}/attachments/{key}"
            item: JSON = {
                "id": str(att_id),
                "filename": filename,
                "size": len(f.data),
                "url": url,
                "proxy_url": url,
                "content_type": f.content_type,
            }
            if meta.get("description"):
                item["description"] = meta["description"]
            out.append(item)
        return out

    def _mention_payload(
        self, guild: FakeGuild, content: str, allowed: JSON | None, reply_author: int | None
    ) -> tuple[list[JSON], list[str], bool, MentionResult]:
        result = resolve_mentions(
            content,
            allowed,
            known_users=list(self.users),
            known_roles=[r for r in guild.roles if r != guild.id],
            reply_author=reply_author,
        )
        mentions: list[JSON] = []
        for uid in result.users:
            user_data = self.users[uid].to_dict()
            member = guild.members.get(uid)
            if member is not None:
                user_data["member"] = member.to_dict(with_user=False)
            mentions.append(user_data)
        return mentions, [str(r) for r in result.roles], result.everyone or result.here, result

    def create_message(
        self,
        *,
        channel: FakeChannel,
        payload: JSON,
        files: list[RecordedFile],
        author: FakeUser,
        route: str,
        msg_type: int = 0,
        ephemeral: bool = False,
        interaction: FakeInteraction | None = None,
        webhook_id: int | None = None,
        extra: JSON | None = None,
        flags_extra: int = 0,
        message_id: int | None = None,
    ) -> StoredMessage:
        """Store a new message (already validated), record pings, dispatch MESSAGE_CREATE."""
        guild = self.guilds[channel.guild_id]
        mid = message_id or self.ids.next()
        content = payload.get("content") or ""
        reference = payload.get("message_reference")
        referenced: StoredMessage | None = None
        if isinstance(reference, dict) and reference.get("message_id"):
            referenced = self.stored(int(reference["message_id"]))
        reply_author = None
        if referenced is not None:
            reply_author = int(referenced.data["author"]["id"])
            if reply_author == author.id:
                reply_author = None
        allowed = payload.get("allowed_mentions")
        mentions, mention_roles, everyone, result = self._mention_payload(
            guild, _mentionable_text(content, payload), allowed, reply_author
        )
        if (
            everyone
            and webhook_id is None
            and not has(self.permissions_for(author.id, channel), Permission.MENTION_EVERYONE)
        ):
            everyone = False
        if (
            reply_author is not None
            and result.reply_user is not None
            and reply_author not in [int(m["id"]) for m in mentions]
        ):
            replied = self.users.get(reply_author)
            if replied is not None:
                mentions.append(replied.to_dict())
        # Docs resources/message#create-message: of the flags, "only SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS,
        # IS_VOICE_MESSAGE, and IS_COMPONENTS_V2 can be set" (interaction responses add EPHEMERAL, below).
        flags = (int(payload.get("flags") or 0) & CREATE_FLAGS) | flags_extra
        if ephemeral:
            flags |= FLAG_EPHEMERAL
        data: JSON = {
            "id": str(mid),
            "channel_id": str(channel.id),
            "author": author.to_dict(),
            "content": content,
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts", False)),
            "mention_everyone": everyone,
            "mentions": mentions,
            "mention_roles": mention_roles,
            "attachments": self._attachments(channel.id, payload, files),
            "embeds": [_normalize_embed(e) for e in payload.get("embeds") or []],
            "pinned": False,
            "type": msg_type if referenced is None or msg_type != 0 else 19,
            "flags": flags,
            "components": with_ids(list(payload.get("components") or [])),
        }
        if payload.get("nonce") is not None:
            data["nonce"] = payload["nonce"]
        if payload.get("poll") is not None:
            data["poll"] = payload["poll"]
        if payload.get("sticker_ids"):
            data["sticker_items"] = [
                {"id": str(s), "name": "sticker", "format_type": 1} for s in payload["sticker_ids"]
            ]
        if webhook_id is not None:
            data["webhook_id"] = str(webhook_id)
        if referenced is not None:
            data["message_reference"] = {
                "type": 0,
                "message_id": referenced.data["id"],
                "channel_id": str(referenced.channel_id),
                "guild_id": str(guild.id),
            }
            data["referenced_message"] = copy.deepcopy(referenced.data)
        if channel.is_thread:
            data["position"] = channel.total_message_sent
        if extra:
            data.update(extra)
        stored = StoredMessage(
            data=data,
            channel_id=channel.id,
            ephemeral=ephemeral,
            interaction_id=interaction.id if interaction else None,
            files=list(files),
        )
        self._messages[mid] = stored
        self._signal_messages()
        if not ephemeral:
            self._channel_messages.setdefault(channel.id, []).append(mid)
            channel.last_message_id = mid
            if channel.is_thread:
                channel.message_count += 1
                channel.total_message_sent += 1
            if not flags & FLAG_LOADING:
                self._record_pings(
                    stored,
                    result,
                    route=route,
                    guild=guild,
                    author_id=author.id,
                )
            self._dispatch_message("MESSAGE_CREATE", stored, guild)
        return stored

    def _record_pings(
        self,
        stored: StoredMessage,
        result: MentionResult,
        *,
        route: str,
        guild: FakeGuild,
        author_id: int,
    ) -> None:
        now = time.monotonic()
        mid = int(stored.data["id"])
        silent = bool(stored.data["flags"] & FLAG_SUPPRESS_NOTIFICATIONS)

        def add(kind: str, target: int | None) -> None:
            self._pings.append(Ping(kind, target, mid, stored.channel_id, guild.id, route, now, silent))

        if result.everyone:
            add("everyone", None)
        if result.here:
            add("here", None)
        for uid in result.users:
            if uid != author_id:
                add("user", uid)
        for rid in result.roles:
            add("role", rid)
        if result.reply_user is not None and result.reply_user not in result.users:
            add("reply", result.reply_user)

    def _dispatch_message(self, event: str, stored: StoredMessage, guild: FakeGuild) -> None:
        data = copy.deepcopy(stored.data)
        data["guild_id"] = str(guild.id)
        author_id = int(data["author"]["id"])
        member = guild.members.get(author_id)
        if member is not None and "webhook_id" not in data:
            data["member"] = member.to_dict(with_user=False)
        for session in self._sessions_for(guild.id):
            if not session.intents & INTENT_GUILD_MESSAGES:
                continue
            payload = data
            mentioned = any(int(m["id"]) == self.bot_user_id for m in data.get("mentions", []))
            if not session.intents & (1 << 15) and author_id != self.bot_user_id and not mentioned:
                payload = {**data, "content": "", "embeds": [], "attachments": [], "components": []}
            session.dispatch(event, payload)

    def edit_message(
        self, stored: StoredMessage, payload: JSON, files: list[RecordedFile], *, route: str
    ) -> JSON:
        """Apply an edit (already validated); recomputes mentions but never pings."""
        data = stored.data
        channel = self._find_channel(stored.channel_id)
        if channel is None:
            raise errors.unknown_channel()
        guild = self.guilds[channel.guild_id]
        was_loading = bool(data["flags"] & FLAG_LOADING)
        new = copy.deepcopy(data)
        if "content" in payload:
            new["content"] = payload["content"] or ""
        if "embeds" in payload:
            new["embeds"] = [_normalize_embed(e) for e in payload["embeds"] or []]
        if "components" in payload:
            new["components"] = with_ids(list(payload["components"] or []))
        if "attachments" in payload or files:
            listed = {str(a.get("id")) for a in payload.get("attachments") or [] if isinstance(a, dict)}
            existing = data["attachments"]
            kept = [a for a in existing if a["id"] in listed] if "attachments" in payload else list(existing)
            new["attachments"] = kept + self._attachments(stored.channel_id, payload, files)
        if "flags" in payload and payload["flags"] is not None:
            # Docs resources/message#edit-message: flags edits SUPPRESS_EMBEDS (set or unset) and
            # IS_COMPONENTS_V2 (set only: "the flag cannot be removed"); other bits stay as they were.
            keep = data["flags"] & ~FLAG_SUPPRESS_EMBEDS
            new["flags"] = keep | (int(payload["flags"]) & (FLAG_SUPPRESS_EMBEDS | FLAG_IS_COMPONENTS_V2))
        new["flags"] &= ~FLAG_LOADING
        if not _has_body(new):
            raise errors.empty_message()
        if "content" in payload or "components" in payload or "allowed_mentions" in payload:
            mentions, roles, everyone, _ = self._mention_payload(
                guild, _mentionable_text(new["content"], new), payload.get("allowed_mentions"), None
            )
            new.update({"mentions": mentions, "mention_roles": roles, "mention_everyone": everyone})
        if not was_loading:
            new["edited_timestamp"] = iso_now()
        stored.data = new
        self._signal_messages()
        if not stored.ephemeral:
            self._dispatch_message("MESSAGE_UPDATE", stored, guild)
        return copy.deepcopy(new)

    def delete_message(self, stored: StoredMessage) -> None:
        """Delete a message (MESSAGE_DELETE)."""
        stored.deleted = True
        self._signal_messages()
        ids = self._channel_messages.get(stored.channel_id, [])
        mid = int(stored.data["id"])
        if mid in ids:
            ids.remove(mid)
        channel = self._find_channel(stored.channel_id)
        if channel is not None and not stored.ephemeral:
            self.gateway.dispatch(
                "MESSAGE_DELETE",
                {"id": str(mid), "channel_id": str(channel.id), "guild_id": str(channel.guild_id)},
                guild_id=channel.guild_id,
                intent=INTENT_GUILD_MESSAGES,
            )

    # ---- threads ---------------------------------------------------------------------------------

    def _new_thread(
        self, parent: FakeChannel, *, name: str, type: int, owner_id: int, thread_id: int
    ) -> FakeChannel:
        guild = self.guilds[parent.guild_id]
        thread = FakeChannel(
            id=thread_id,
            guild_id=guild.id,
            type=type,
            name=name,
            parent_id=parent.id,
            owner_id=owner_id,
            auto_archive_duration=parent.default_auto_archive_duration,
            archive_timestamp=iso_now(),
        )
        thread.member_ids.add(owner_id)
        guild.threads[thread.id] = thread
        return thread

    def _announce_thread(self, thread: FakeChannel, *, creator_is_bot: bool) -> None:
        data = thread.to_dict()
        data["newly_created"] = True
        if creator_is_bot:
            data["member"] = {
                "id": str(thread.id),
                "user_id": str(self.bot_user_id),
                "join_timestamp": iso_now(),
                "flags": 1,
            }
        self.gateway.dispatch("THREAD_CREATE", data, guild_id=thread.guild_id, intent=INTENT_GUILDS)

    # ---- interactions ----------------------------------------------------------------------------

    def acknowledge(self, inter: FakeInteraction, ack_type: int, data: JSON | None) -> None:
        """Record the accepted acknowledgement."""
        inter.ack = AckRecord(type=ack_type, data=copy.deepcopy(data), t=time.monotonic())
        inter._ack_event.set()

    async def invoke_command(
        self,
        name: str,
        *,
        guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
        member: FakeMember | None = None,
        options: Mapping[str, Any] | None = None,
        locale: str = "en-US",
        command_type: int = 1,
        target: Any = None,
    ) -> FakeInteraction:
        """A user runs a registered command ("debate", or "group sub" for sub-commands).

        Options are checked against the stored schema the way Discord's client enforces it; the
        INTERACTION_CREATE goes to the shard owning the guild. Defaults: the only guild, its #general,
        its owner.
        """
        from .interactions import command_data, new_interaction, resolve_context, send_interaction

        guild, channel, member = resolve_context(self, guild, channel, member)
        data = command_data(
            self,
            name,
            guild=guild,
            channel=channel,
            member=member,
            options=options or {},
            command_type=command_type,
            target=target,
        )
        inter = new_interaction(
            self, itype=2, guild=guild, channel=channel, member=member, data=data, locale=locale
        )
        return await send_interaction(self, inter)

    async def invoke_autocomplete(
        self,
        name: str,
        *,
        focused: str,
        guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
        member: FakeMember | None = None,
        options: Mapping[str, Any] | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user types into an autocomplete option (interaction type 4)."""
        from .interactions import command_data, new_interaction, resolve_context, send_interaction

        guild, channel, member = resolve_context(self, guild, channel, member)
        data = command_data(
            self,
            name,
            guild=guild,
            channel=channel,
            member=member,
            options=options or {},
            command_type=1,
            focused=focused,
        )
        inter = new_interaction(
            self, itype=4, guild=guild, channel=channel, member=member, data=data, locale=locale
        )
        return await send_interaction(self, inter)

    async def invoke_component(
        self,
        message_id: int,
        custom_id: str,
        *,
        member: FakeMember | None = None,
        values: list[str] | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user clicks a button / picks from a select on a stored message (interaction type 3)."""
        from .interactions import (
            InvalidCommandOptionsError,
            find_component,
            new_interaction,
            resolve_context,
            send_interaction,
        )

        stored = self.stored(message_id)
        if stored is None:
            raise KeyError(f"unknown message {message_id}")
        channel = self._find_channel(stored.channel_id)
        assert channel is not None
        guild, channel, member = resolve_context(self, None, channel, member)
        component = find_component(stored.data.get("components") or [], custom_id)
        if component is None:
            raise InvalidCommandOptionsError(f"message {message_id} has no component {custom_id!r}")
        if component.get("disabled"):
            raise InvalidCommandOptionsError(f"component {custom_id!r} is disabled")
        data: JSON = {"custom_id": custom_id, "component_type": component.get("type", 2)}
        if values is not None:
            data["values"] = list(values)
        inter = new_interaction(
            self,
            itype=3,
            guild=guild,
            channel=channel,
            member=member,
            data=data,
            locale=locale,
            message=copy.deepcopy(stored.data),
        )
        return await send_interaction(self, inter)

    async def submit_modal(
        self, shown_by: FakeInteraction, values: Mapping[str, Any], *, locale: str = "en-US"
    ) -> FakeInteraction:
        """The user submits the modal the bot answered ``shown_by`` with (interaction type 5)."""
        from .interactions import modal_submit_components, new_interaction, resolve_context, send_interaction

        modal = self.modals.get(shown_by.id)
        if modal is None:
            raise KeyError(f"interaction {shown_by.id} was not answered with a modal")
        channel = self._find_channel(shown_by.channel_id)
        guild, channel, member = resolve_context(
            self, None, channel, self.guilds[shown_by.guild_id or 0].members[shown_by.user_id]
        )
        data: JSON = {"custom_id": modal["custom_id"], "components": modal_submit_components(modal, values)}
        # Docs interactions/receiving-and-responding#interaction-object: ``message`` is sent "for components
        # or modals triggered by components".
        source = shown_by.payload.get("message")
        inter = new_interaction(
            self,
            itype=5,
            guild=guild,
            channel=channel,
            member=member,
            data=data,
            locale=locale,
            message=copy.deepcopy(source) if source is not None else None,
        )
        inter.triggered_by = shown_by.id
        return await send_interaction(self, inter)

    # ---- HTTP pipeline ---------------------------------------------------------------------------

    async def _handle_other_api(self, request: web.Request) -> web.StreamResponse:
        return await self._respond_simple(request, errors.not_found())

    async def _respond_simple(self, request: web.Request, err: DiscordHTTPError) -> web.StreamResponse:
        self.record_request(
            RecordedRequest(
                t=time.monotonic(),
                method=request.method,
                path=request.path,
                route=f"{request.method} {request.path}",
                params=dict(request.query),
                json=None,
                files=[],
                headers=dict(request.headers),
                status=err.status,
                response=err.body,
                finished_at=time.monotonic(),
            )
        )
        return _json_response(err.status, err.body, {"Via": "1.1 google"})

    async def _handle_cdn(self, request: web.Request) -> web.StreamResponse:
        entry = self.cdn.get(request.match_info["key"])
        if entry is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(
            status=200, body=entry[0], content_type=entry[1].split(";")[0] or "application/octet-stream"
        )

    def _next_latency(self) -> float:
        if isinstance(self.latency_s, tuple):
            return self._latency_rng.uniform(*self.latency_s)
        return self.latency_s

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        t = time.monotonic()
        sub = "/" + request.match_info["tail"].lstrip("/")
        raw_json, files, body_error = await _read_body(request)
        match = self.routes.router.match(request.method, sub)
        route_key = match[0].key if match and match[0] is not None else f"{request.method} {sub}"
        record = RecordedRequest(
            t=t,
            method=request.method,
            path=sub,
            route=route_key,
            params=dict(request.query),
            json=raw_json,
            files=files,
            headers=dict(request.headers),
            path_params=dict(match[1]) if match else {},
        )
        latency = self._next_latency()
        if latency:
            await asyncio.sleep(latency / 2)
        headers: dict[str, str] = {"Via": "1.1 google"}
        status: int
        body: Any
        try:
            if match is None:
                headers.update(self.ratelimiter.headers_for("default", f"unknown {sub}"))
                raise errors.not_found()
            route, params = match
            if route is None:
                headers.update(self.ratelimiter.headers_for("default", f"unknown {sub}"))
                raise errors.method_not_allowed()
            if route.auth and request.headers.get("Authorization") != f"Bot {self.token}":
                headers.update(self.ratelimiter.headers_for(route.bucket, "unauthorized"))
                raise errors.unauthorized()
            major = "+".join(
                params[k]
                for k in (
                    "channel_id",
                    "guild_id",
                    "webhook_id",
                    "webhook_token",
                    "interaction_id",
                    "interaction_token",
                )
                if k in params
            )
            decision = self.ratelimiter.check(
                route.bucket, major, global_applies=route.global_limit and route.auth
            )
            headers.update(decision.headers)
            if decision.limited:
                assert decision.body is not None
                status, body = 429, decision.body
            else:
                fault = self.take_fault(route.key)
                if fault is not None:
                    status, body = fault
                    if status == 429:
                        retry = float(body.setdefault("retry_after", 1.0))
                        body.setdefault("message", "You are being rate limited.")
                        body.setdefault("global", False)
                        headers.update(
                            {"Retry-After": str(max(1, int(retry + 0.999))), "X-RateLimit-Scope": "user"}
                        )
                else:
                    if body_error is not None:
                        raise body_error
                    status, body = await self.routes.call(route, params, request, raw_json, files)
        except DiscordHTTPError as exc:
            status, body = exc.status, exc.body
            headers.update(exc.headers)
        if latency:
            await asyncio.sleep(latency / 2)
        record.status = status
        record.response = copy.deepcopy(body)
        record.response_headers = dict(headers)
        record.finished_at = time.monotonic()
        self.record_request(record)
        return _json_response(status, body, headers)


def _json_response(status: int, body: Any, headers: Mapping[str, str]) -> web.Response:
    if body is None or status == 204:
        return web.Response(status=204, headers=dict(headers))
    return web.Response(
        status=status, body=json.dumps(body).encode(), headers={**headers, "Content-Type": "application/json"}
    )


async def _read_body(request: web.Request) -> tuple[Any, list[RecordedFile], DiscordHTTPError | None]:
    """Parse a JSON or multipart (payload_json + files[n]) body."""
    if not request.body_exists:
        return None, [], None
    ctype = request.content_type
    if ctype.startswith("multipart/"):
        files: list[RecordedFile] = []
        payload: Any = None
        error: DiscordHTTPError | None = None
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):  # nested multipart: not something Discord accepts
                continue
            name = part.name or ""
            data = await part.read()
            if name == "payload_json":
                try:
                    payload = json.loads(data)
                except ValueError:
                    error = DiscordHTTPError(
                        400, {"message": "The request body contains invalid JSON.", "code": 50109}
                    )
            elif part.filename is not None:
                files.append(
                    RecordedFile(
                        name,
                        part.filename,
                        bytes(data),
                        part.headers.get("Content-Type", "application/octet-stream"),
                    )
                )
        return payload, files, error
    raw = await request.read()
    if not raw:
        return None, [], None
    try:
        return json.loads(raw), [], None
    except ValueError:
        return (
            None,
            [],
            DiscordHTTPError(400, {"message": "The request body contains invalid JSON.", "code": 50109}),
        )


def _mentionable_text(content: str, message: Mapping[str, Any]) -> str:
    """The text whose mentions ping: ``content``, or with IS_COMPONENTS_V2 the Text Display components.

    Docs components/reference#text-display: mentions in a Text Display "will ping and send notifications
    based on the value of the allowed mention object"; docs resources/message#edit-message: for a V2 message
    the mention arrays are rebuilt "based on the edited content in the components array".
    """
    if not int(message.get("flags") or 0) & FLAG_IS_COMPONENTS_V2:
        return content
    return "\n".join(
        str(c.get("content") or "")
        for c in all_components(message.get("components") or [])
        if c.get("type") == TEXT_DISPLAY
    )


def _normalize_embed(embed: Any) -> JSON:
    if not isinstance(embed, dict):
        return {}
    out = {k: v for k, v in embed.items() if v is not None}
    out.setdefault("type", "rich")
    out["content_scan_version"] = 0
    return out


def _has_body(data: JSON) -> bool:
    return bool(
        (data.get("content") or "").strip()
        or data.get("embeds")
        or data.get("attachments")
        or data.get("components")
        or data.get("sticker_items")
        or data.get("poll")
    )


def _overwrite_from_mapping(ow: Mapping[str, Any]) -> Overwrite:
    return Overwrite(
        id=int(ow["id"]), type=int(ow["type"]), allow=int(ow.get("allow", 0)), deny=int(ow.get("deny", 0))
    )
