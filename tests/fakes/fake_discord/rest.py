"""REST v10 routes: the route table, and handlers enforcing Discord's rules."""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import errors
from .components import validate_modal, with_ids
from .errors import DiscordHTTPError, FormErrors
from .gateway import INTENT_GUILDS
from .models import (
    ANNOUNCEMENT_THREAD,
    GUILD_ANNOUNCEMENT,
    GUILD_FORUM,
    GUILD_MEDIA,
    GUILD_TEXT,
    JSON,
    MESSAGEABLE_TYPES,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    RecordedFile,
    StoredMessage,
)
from .permissions import Permission, has
from .validation import (
    CHAT_INPUT,
    COMMAND_LIMITS,
    FLAG_EPHEMERAL,
    FLAG_IS_COMPONENTS_V2,
    FLAG_LOADING,
    command_count_by_type,
    message_has_body,
    normalize_option,
    validate_choice,
    validate_command,
    validate_command_list,
    validate_message,
    validate_thread_fields,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

Result = tuple[int, Any]

# Interaction types and callback types.
PING = 1
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5
CB_CHANNEL_MESSAGE = 4
CB_DEFERRED_CHANNEL_MESSAGE = 5
CB_DEFERRED_UPDATE = 6
CB_UPDATE_MESSAGE = 7
CB_AUTOCOMPLETE_RESULT = 8
CB_MODAL = 9
CB_LAUNCH_ACTIVITY = 12
ALLOWED_CALLBACKS: dict[int, tuple[int, ...]] = {
    PING: (1,),
    APPLICATION_COMMAND: (CB_CHANNEL_MESSAGE, CB_DEFERRED_CHANNEL_MESSAGE, CB_MODAL, CB_LAUNCH_ACTIVITY),
    MESSAGE_COMPONENT: (
        CB_CHANNEL_MESSAGE,
        CB_DEFERRED_CHANNEL_MESSAGE,
        CB_DEFERRED_UPDATE,
        CB_UPDATE_MESSAGE,
        CB_MODAL,
    ),
    AUTOCOMPLETE: (CB_AUTOCOMPLETE_RESULT,),
    MODAL_SUBMIT: (CB_CHANNEL_MESSAGE, CB_DEFERRED_CHANNEL_MESSAGE, CB_DEFERRED_UPDATE, CB_UPDATE_MESSAGE),
}
#: Message type of an interaction's response messages, per command type (chat input → 20, menus → 23).
RESPONSE_MESSAGE_TYPE = {1: 20, 2: 23, 3: 23, 4: 20}


@dataclass
class Ctx:
    """What a handler sees of one request."""

    params: dict[str, str]
    query: Mapping[str, str]
    json: Any
    files: list[RecordedFile]
    route: str
    t: float
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def body(self) -> JSON:
        """The JSON body as a dict (50035 when it is something else)."""
        if self.json is None:
            return {}
        if not isinstance(self.json, dict):
            errs = FormErrors()
            errs.add([], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            raise errs.error()
        return self.json


Handler = Callable[[Ctx], Awaitable[Result]]


@dataclass(frozen=True)
class RouteSpec:
    """One route: templated path, handler, auth requirement and rate-limit bucket."""

    method: str
    template: str
    handler: Handler
    auth: bool = True
    bucket: str = "default"
    global_limit: bool = True

    @property
    def key(self) -> str:
        """``"METHOD /path/{param}"`` as recorded in ``RecordedRequest.route``."""
        return f"{self.method} {self.template}"


class Router:
    """Matches paths against templates, preferring literal segments over parameters."""

    def __init__(self, specs: list[RouteSpec]) -> None:
        self.specs = specs

    def keys(self) -> list[str]:
        """All templated route keys."""
        return [s.key for s in self.specs]

    def knows(self, key: str) -> bool:
        """Whether a templated route key exists."""
        return key in self.keys()

    @staticmethod
    def _match_template(template: str, path: str) -> tuple[int, dict[str, str]] | None:
        t_parts = template.strip("/").split("/")
        p_parts = path.strip("/").split("/")
        if len(t_parts) != len(p_parts):
            return None
        params: dict[str, str] = {}
        literals = 0
        for t, p in zip(t_parts, p_parts, strict=True):
            if t.startswith("{") and t.endswith("}"):
                if not p:
                    return None
                params[t[1:-1]] = p
            elif t == p:
                literals += 1
            else:
                return None
        return literals, params

    def match(self, method: str, path: str) -> tuple[RouteSpec | None, dict[str, str]] | None:
        """``None``: unknown path; ``(None, params)``: known path, wrong method; else the route."""
        best: tuple[int, str, dict[str, str]] | None = None
        for spec in self.specs:
            found = self._match_template(spec.template, path)
            if found is not None and (best is None or found[0] > best[0]):
                best = (found[0], spec.template, found[1])
        if best is None:
            return None
        for spec in self.specs:
            if spec.template == best[1] and spec.method == method:
                return spec, best[2]
        return None, best[2]


def _snowflake(name: str, value: str) -> int:
    if not value.isdigit():
        errs = FormErrors()
        errs.add([name], "NUMBER_TYPE_COERCE", f'Value "{value}" is not snowflake.')
        raise errs.error()
    return int(value)


# Docs reference#boolean-query-strings: "True", "true" or "1" for true and "False", "false" or "0" for false.
_QUERY_TRUE = ("True", "true", "1")
_QUERY_FALSE = ("False", "false", "0")


def _query_bool(query: Mapping[str, str], name: str) -> bool:
    """A boolean query parameter (absent: false); anything but the documented spellings is a 50035."""
    value = query.get(name)
    if value is None or value in _QUERY_FALSE:
        return False
    if value in _QUERY_TRUE:
        return True
    errs = FormErrors()
    errs.wrong_type([name], "boolean")
    raise errs.error()


def _localized(item: JSON, locale: str) -> JSON:
    """A command, option or choice as the batch command GETs return it: one locale's strings only."""
    out: JSON = {}
    for key, value in item.items():
        if key in ("name_localizations", "description_localizations"):
            text = (value or {}).get(locale)
            if text is not None:
                out[key.replace("_localizations", "_localized")] = text
        elif key in ("options", "choices"):
            out[key] = [_localized(child, locale) for child in value]
        else:
            out[key] = copy.deepcopy(value)
    return out


AUTOCOMPLETE_CHOICES_MAX = 25


def _focused_option_type(options: list[JSON]) -> int:
    """The type of the focused option in an autocomplete interaction's (possibly nested) options."""
    for opt in options:
        if opt.get("focused"):
            return int(opt["type"])
        found = _focused_option_type(opt.get("options") or [])
        if found:
            return found
    return 0


class RestRoutes:
    """Handlers for every modelled route; they read and mutate the owning ``FakeDiscord``."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        R = RouteSpec
        app = "/applications/{application_id}"
        hook = "/webhooks/{webhook_id}/{webhook_token}"
        hook_kw: dict[str, Any] = {"auth": False, "bucket": "webhook", "global_limit": False}
        specs = [
            R("GET", "/users/@me", self.get_me),
            R("GET", "/users/{user_id}", self.get_user),
            R("GET", "/oauth2/applications/@me", self.get_application),
            R("GET", "/applications/@me", self.get_application),
            R("GET", "/gateway", self.get_gateway, auth=False),
            R("GET", "/gateway/bot", self.get_gateway_bot),
            R("GET", app + "/commands", self.list_commands, bucket="commands"),
            R("PUT", app + "/commands", self.overwrite_commands, bucket="commands"),
            R("POST", app + "/commands", self.create_command, bucket="commands"),
            R("GET", app + "/commands/{command_id}", self.get_command, bucket="commands"),
            R("PATCH", app + "/commands/{command_id}", self.edit_command, bucket="commands"),
            R("DELETE", app + "/commands/{command_id}", self.delete_command, bucket="commands"),
            R("GET", app + "/guilds/{guild_id}/commands", self.list_commands, bucket="commands"),
            R("PUT", app + "/guilds/{guild_id}/commands", self.overwrite_commands, bucket="commands"),
            R("POST", app + "/guilds/{guild_id}/commands", self.create_command, bucket="commands"),
            R("GET", app + "/guilds/{guild_id}/commands/{command_id}", self.get_command, bucket="commands"),
            R(
                "PATCH",
                app + "/guilds/{guild_id}/commands/{command_id}",
                self.edit_command,
                bucket="commands",
            ),
            R(
                "DELETE",
                app + "/guilds/{guild_id}/commands/{command_id}",
                self.delete_command,
                bucket="commands",
            ),
            R(
                "POST",
                "/interactions/{interaction_id}/{interaction_token}/callback",
                self.interaction_callback,
                auth=False,
                bucket="interaction_callback",
                global_limit=False,
            ),
            R("GET", hook + "/messages/@original", self.get_webhook_message, **hook_kw),
            R("PATCH", hook + "/messages/@original", self.edit_webhook_message, **hook_kw),
            R("DELETE", hook + "/messages/@original", self.delete_webhook_message, **hook_kw),
            R("GET", hook + "/messages/{message_id}", self.get_webhook_message, **hook_kw),
            R("PATCH", hook + "/messages/{message_id}", self.edit_webhook_message, **hook_kw),
            R("DELETE", hook + "/messages/{message_id}", self.delete_webhook_message, **hook_kw),
            R("POST", hook, self.execute_webhook, **hook_kw),
            R("GET", "/channels/{channel_id}", self.get_channel),
            R("GET", "/channels/{channel_id}/messages", self.list_messages, bucket="message_read"),
            R("POST", "/channels/{channel_id}/messages", self.create_message, bucket="messages"),
            R("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message, bucket="message_read"),
            R(
                "PATCH",
                "/channels/{channel_id}/messages/{message_id}",
                self.edit_message,
                bucket="message_edit",
            ),
            R(
                "DELETE",
                "/channels/{channel_id}/messages/{message_id}",
                self.delete_message,
                bucket="message_delete",
            ),
            R(
                "POST",
                "/channels/{channel_id}/messages/{message_id}/threads",
                self.thread_from_message,
                bucket="threads",
            ),
            R("POST", "/channels/{channel_id}/threads", self.thread_without_message, bucket="threads"),
            R("PUT", "/channels/{channel_id}/thread-members/@me", self.join_thread),
            R("DELETE", "/channels/{channel_id}/thread-members/@me", self.leave_thread),
            R("POST", "/channels/{channel_id}/typing", self.typing),
            R("GET", "/guilds/{guild_id}", self.get_guild),
            R("GET", "/guilds/{guild_id}/channels", self.get_guild_channels),
            R("GET", "/guilds/{guild_id}/roles", self.get_guild_roles),
            R("GET", "/guilds/{guild_id}/members/{user_id}", self.get_guild_member),
        ]
        self.router = Router(specs)

    async def call(
        self,
        route: RouteSpec,
        params: dict[str, str],
        request: web.Request,
        body: Any,
        files: list[RecordedFile],
    ) -> Result:
        """Run a route's handler."""
        ctx = Ctx(
            params=params,
            query=request.query,
            json=body,
            files=files,
            route=route.key,
            t=time.monotonic(),
            headers=request.headers,
        )
        return await route.handler(ctx)

    # ---- users, application, gateway ------------------------------------------------------------

    async def get_me(self, ctx: Ctx) -> Result:
        """``GET /users/@me``."""
        return 200, self.fake.bot_user_payload()

    async def get_user(self, ctx: Ctx) -> Result:
        """``GET /users/{user_id}``."""
        user = self.fake.users.get(_snowflake("user_id", ctx.params["user_id"]))
        if user is None:
            raise DiscordHTTPError(404, {"message": "Unknown User", "code": 10013})
        return 200, user.to_dict()

    async def get_application(self, ctx: Ctx) -> Result:
        """``GET /oauth2/applications/@me`` and ``GET /applications/@me``.

        Spec PrivateApplicationResponse (commit 74fda0fad044407ea280043a03ffc9bc64c4e49e) requires id, name,
        icon, description, type, verify_key, flags, flags_new, redirect_uris, interactions_endpoint_url,
        role_connections_verification_url, owner, approximate_guild_count, approximate_user_install_count,
        approximate_user_authorization_count, explicit_content_filter, team and eligible_oauth2_scopes.
        terms_of_service_url, privacy_policy_url and custom_install_url are optional non-null strings
        there (docs resources/application#application-object: optional "string"), so are left out here.
        """
        fake = self.fake
        install_params = {
            # Spec ApplicationOAuth2InstallParamsResponse: scopes and permissions (a string) required.
            "scopes": ["applications.commands", "bot"],
            "permissions": str(fake.bot_permissions),
        }
        return 200, {
            "id": str(fake.application_id),
            "name": fake.bot_user.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": fake.verify_key,
            "owner": fake.owner_user.to_dict(),
            "team": None,
            "flags": fake.application_flags,
            # Docs: flags_new is the same public flags as a string (they outgrow a 32-bit integer).
            "flags_new": str(fake.application_flags),
            "bot": fake.bot_user.to_dict(),
            "rpc_origins": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "event_webhooks_url": None,
            "event_webhooks_status": 1,  # spec ApplicationEventWebhooksStatus: 1 = DISABLED (the default)
            "event_webhooks_types": [],
            "tags": [],
            "install_params": install_params,
            # Docs: integration_types_config maps 0 (GUILD_INSTALL) to {"oauth2_install_params": …}.
            "integration_types_config": {"0": {"oauth2_install_params": install_params}},
            "approximate_guild_count": sum(1 for g in fake.guilds.values() if fake.bot_user_id in g.members),
            "approximate_user_install_count": 0,
            "approximate_user_authorization_count": 0,
            "explicit_content_filter": 0,  # spec ApplicationExplicitContentFilterTypes: 0 = INHERIT
            "eligible_oauth2_scopes": ["applications.commands", "bot", "webhook.incoming"],
            "is_monetized": False,
            "is_verified": False,
            "is_discoverable": False,
        }

    async def get_gateway(self, ctx: Ctx) -> Result:
        """``GET /gateway``."""
        return 200, {"url": self.fake.gateway_url}

    async def get_gateway_bot(self, ctx: Ctx) -> Result:
        """``GET /gateway/bot``: url, recommended shards, session start limits."""
        return 200, {
            "url": self.fake.gateway_url,
            "shards": self.fake.shard_count,
            "session_start_limit": {
                "total": 1000,
                "remaining": max(0, 1000 - self.fake.gateway.identify_count),
                "reset_after": 86_400_000,
                "max_concurrency": 1,
            },
        }

    # ---- guilds ---------------------------------------------------------------------------------

    def _guild(self, ctx: Ctx) -> FakeGuild:
        guild = self.fake.guilds.get(_snowflake("guild_id", ctx.params["guild_id"]))
        if guild is None or self.fake.bot_user_id not in guild.members:
            raise errors.unknown_guild()
        return guild

    async def get_guild(self, ctx: Ctx) -> Result:
        """``GET /guilds/{guild_id}``."""
        guild = self._guild(ctx)
        data = guild.to_dict()
        if _query_bool(ctx.query, "with_counts"):
            data["approximate_member_count"] = len(guild.members)
            data["approximate_presence_count"] = 0
        return 200, data

    async def get_guild_channels(self, ctx: Ctx) -> Result:
        """``GET /guilds/{guild_id}/channels``."""
        return 200, [c.to_dict() for c in self._guild(ctx).channels.values()]

    async def get_guild_roles(self, ctx: Ctx) -> Result:
        """``GET /guilds/{guild_id}/roles``."""
        return 200, [r.to_dict() for r in self._guild(ctx).roles.values()]

    async def get_guild_member(self, ctx: Ctx) -> Result:
        """``GET /guilds/{guild_id}/members/{user_id}``."""
        member = self._guild(ctx).members.get(_snowflake("user_id", ctx.params["user_id"]))
        if member is None:
            raise DiscordHTTPError(404, {"message": "Unknown Member", "code": 10007})
        return 200, member.to_dict()

    # ---- application commands -------------------------------------------------------------------

    def _command_scope(self, ctx: Ctx) -> tuple[int | None, list[JSON]]:
        if _snowflake("application_id", ctx.params["application_id"]) != self.fake.application_id:
            raise errors.missing_access()
        if "guild_id" not in ctx.params:
            return None, self.fake.global_commands
        gid = _snowflake("guild_id", ctx.params["guild_id"])
        guild = self.fake.guilds.get(gid)
        if guild is None or self.fake.bot_user_id not in guild.members:
            raise errors.missing_access()
        return gid, self.fake.guild_commands.setdefault(gid, [])

    def _stored_command(self, cmd: JSON, existing: JSON | None, guild_id: int | None) -> JSON:
        ctype = int(cmd.get("type", CHAT_INPUT))
        dmp = cmd.get("default_member_permissions")
        data: JSON = {
            "id": existing["id"] if existing else str(self.fake.ids.next()),
            "application_id": str(self.fake.application_id),
            "version": existing["version"] if existing else str(self.fake.ids.next()),
            "default_member_permissions": None if dmp is None else str(dmp),
            "type": ctype,
            "name": cmd["name"],
            "name_localizations": cmd.get("name_localizations"),
            "description": cmd.get("description", "") if ctype == CHAT_INPUT else "",
            "description_localizations": cmd.get("description_localizations"),
            "contexts": cmd.get("contexts"),
            "integration_types": cmd.get("integration_types") or [0],
            "nsfw": bool(cmd.get("nsfw", False)),
        }
        options = [normalize_option(o) for o in cmd.get("options") or []]
        if options:
            data["options"] = options
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        else:
            data["dm_permission"] = bool(cmd.get("dm_permission", True))
        if existing is not None:
            before = {k: v for k, v in existing.items() if k != "version"}
            after = {k: v for k, v in data.items() if k != "version"}
            if before != after:
                data["version"] = str(self.fake.ids.next())
        return data

    @staticmethod
    def _check_limits(commands: list[JSON]) -> None:
        for ctype, count in command_count_by_type(commands).items():
            limit = COMMAND_LIMITS.get(ctype, 100)
            if count > limit:
                raise errors.too_many_commands(limit)

    async def list_commands(self, ctx: Ctx) -> Result:
        """``GET …/commands`` (``?with_localizations``).

        Docs interactions/application-commands#retrieving-localized-commands: these batch GETs leave out
        ``name_localizations``/``description_localizations`` unless ``with_localizations`` is true, and add
        ``name_localized``/``description_localized`` for the requester's locale (``X-Discord-Locale``, then
        ``Accept-Language``, then the user's locale) where a dictionary has it.
        """
        _, store = self._command_scope(ctx)
        if _query_bool(ctx.query, "with_localizations"):
            return 200, copy.deepcopy(store)
        locale = ctx.headers.get("X-Discord-Locale") or ctx.headers.get("Accept-Language", "")
        locale = locale.split(",")[0].split(";")[0].strip() or self.fake.bot_user_payload()["locale"]
        return 200, [_localized(cmd, locale) for cmd in store]

    async def overwrite_commands(self, ctx: Ctx) -> Result:
        """``PUT …/commands``: bulk overwrite, keeping ids of commands with the same type and name."""
        guild_id, store = self._command_scope(ctx)
        validate_command_list(ctx.json).raise_if_any()
        body: list[JSON] = ctx.json
        self._check_limits(body)
        by_key = {(int(c["type"]), c["name"]): c for c in store}
        new = [
            self._stored_command(c, by_key.get((int(c.get("type", 1)), c["name"])), guild_id) for c in body
        ]
        store[:] = new
        return 200, copy.deepcopy(new)

    async def create_command(self, ctx: Ctx) -> Result:
        """``POST …/commands``: upsert by type and name (201 when new)."""
        guild_id, store = self._command_scope(ctx)
        validate_command(ctx.json).raise_if_any()
        body: JSON = ctx.json
        key = (int(body.get("type", 1)), body["name"])
        for index, existing in enumerate(store):
            if (int(existing["type"]), existing["name"]) == key:
                store[index] = self._stored_command(body, existing, guild_id)
                return 200, copy.deepcopy(store[index])
        self._check_limits([*store, body])
        data = self._stored_command(body, None, guild_id)
        store.append(data)
        return 201, copy.deepcopy(data)

    def _find_command(self, ctx: Ctx, store: list[JSON]) -> int:
        cid = ctx.params["command_id"]
        _snowflake("command_id", cid)
        for index, cmd in enumerate(store):
            if cmd["id"] == cid:
                return index
        raise errors.unknown_command()

    async def get_command(self, ctx: Ctx) -> Result:
        """``GET …/commands/{command_id}``."""
        _, store = self._command_scope(ctx)
        return 200, copy.deepcopy(store[self._find_command(ctx, store)])

    async def edit_command(self, ctx: Ctx) -> Result:
        """``PATCH …/commands/{command_id}``: partial update, validated as a whole."""
        guild_id, store = self._command_scope(ctx)
        index = self._find_command(ctx, store)
        body = ctx.body()
        validate_command({**body, "type": store[index]["type"]}, partial=True).raise_if_any()
        merged = {**store[index], **body}
        validate_command(merged).raise_if_any()
        for other in store:
            if other is not store[index] and (other["type"], other["name"]) == (
                merged["type"],
                merged["name"],
            ):
                errs = FormErrors()
                errs.add(
                    ["name"],
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                )
                raise errs.error()
        store[index] = self._stored_command(merged, store[index], guild_id)
        return 200, copy.deepcopy(store[index])

    async def delete_command(self, ctx: Ctx) -> Result:
        """``DELETE …/commands/{command_id}``."""
        _, store = self._command_scope(ctx)
        del store[self._find_command(ctx, store)]
        return 204, None

    # ---- channels and messages ------------------------------------------------------------------

    def _channel(self, ctx: Ctx) -> FakeChannel:
        channel = self.fake._find_channel(_snowflake("channel_id", ctx.params["channel_id"]))
        if channel is None or self.fake.bot_user_id not in self.fake.guilds[channel.guild_id].members:
            raise errors.unknown_channel()
        return channel

    def _visible(self, channel: FakeChannel) -> int:
        perms = self.fake.bot_permissions_in(channel)
        if not has(perms, Permission.VIEW_CHANNEL):
            raise errors.missing_access()
        return perms

    def _message_in(self, channel: FakeChannel, ctx: Ctx) -> StoredMessage:
        stored = self.fake.stored(_snowflake("message_id", ctx.params["message_id"]))
        if stored is None or stored.channel_id != channel.id or stored.ephemeral:
            raise errors.unknown_message()
        return stored

    def _require_send(self, channel: FakeChannel, perms: int) -> None:
        if channel.type not in MESSAGEABLE_TYPES:
            raise errors.non_text_channel()
        if channel.is_thread:
            if not has(perms, Permission.SEND_MESSAGES_IN_THREADS):
                raise errors.missing_permissions()
            if channel.archived:
                if channel.locked and not has(perms, Permission.MANAGE_THREADS):
                    raise errors.thread_archived()
                channel.archived = False
                self.fake.gateway.dispatch(
                    "THREAD_UPDATE", channel.to_dict(), guild_id=channel.guild_id, intent=INTENT_GUILDS
                )
        elif not has(perms, Permission.SEND_MESSAGES):
            raise errors.missing_permissions()

    def _check_reference(self, channel: FakeChannel, body: JSON, perms: int) -> None:
        ref = body.get("message_reference")
        if not isinstance(ref, dict):
            return
        if not has(perms, Permission.READ_MESSAGE_HISTORY):
            raise errors.reply_without_history()
        target_channel = int(ref.get("channel_id") or channel.id)
        stored = self.fake.stored(int(ref.get("message_id") or 0))
        if stored is None or stored.channel_id != target_channel or stored.ephemeral:
            if ref.get("fail_if_not_exists", True) is False:
                body.pop("message_reference")
                return
            errs = FormErrors()
            errs.add(["message_reference"], "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
            raise errs.error()

    async def get_channel(self, ctx: Ctx) -> Result:
        """``GET /channels/{channel_id}``."""
        channel = self._channel(ctx)
        self._visible(channel)
        return 200, channel.to_dict()

    async def typing(self, ctx: Ctx) -> Result:
        """``POST /channels/{channel_id}/typing``."""
        channel = self._channel(ctx)
        self._require_send(channel, self._visible(channel))
        return 204, None

    async def list_messages(self, ctx: Ctx) -> Result:
        """``GET /channels/{channel_id}/messages`` (newest first; before/after/limit)."""
        channel = self._channel(ctx)
        perms = self._visible(channel)
        if not has(perms, Permission.READ_MESSAGE_HISTORY):
            return 200, []
        limit_raw = ctx.query.get("limit", "50")
        limit = int(limit_raw) if limit_raw.isdigit() else -1
        if not 1 <= limit <= 100:
            errs = FormErrors()
            errs.add(["limit"], "NUMBER_TYPE_MAX", "int value should be less than or equal to 100.")
            raise errs.error()
        msgs = self.fake.channel_messages(channel.id)
        if "before" in ctx.query:
            msgs = [m for m in msgs if int(m["id"]) < int(ctx.query["before"])]
        if "after" in ctx.query:
            msgs = [m for m in msgs if int(m["id"]) > int(ctx.query["after"])]
            return 200, list(reversed(msgs[:limit]))
        return 200, list(reversed(msgs))[:limit]

    async def get_message(self, ctx: Ctx) -> Result:
        """``GET /channels/{channel_id}/messages/{message_id}``."""
        channel = self._channel(ctx)
        if not has(self._visible(channel), Permission.READ_MESSAGE_HISTORY):
            raise errors.missing_access()
        return 200, copy.deepcopy(self._message_in(channel, ctx).data)

    async def create_message(self, ctx: Ctx) -> Result:
        """``POST /channels/{channel_id}/messages`` (JSON or multipart)."""
        channel = self._channel(ctx)
        perms = self._visible(channel)
        body = ctx.body()
        # Spec MessageCreateRequest (commit 74fda0f…): the one route taking ``nonce``; ``tts`` too.
        validate_message(
            body, file_count=len(ctx.files), allow_ephemeral=False, nonce=True, tts=True
        ).raise_if_any()
        if not message_has_body(body, file_count=len(ctx.files)):
            raise errors.empty_message()
        self._require_send(channel, perms)
        if body.get("embeds") and not has(perms, Permission.EMBED_LINKS):
            raise errors.missing_permissions()
        if ctx.files and not has(perms, Permission.ATTACH_FILES):
            raise errors.missing_permissions()
        self._check_reference(channel, body, perms)
        # Docs resources/message#create-message, enforce_nonce: "If another message was created by the same
        # author with the same nonce, that message will be returned and no new message will be created."
        nonce = body.get("nonce")
        enforced = nonce is not None and body.get("enforce_nonce") is True
        if enforced:
            earlier = self.fake.message_with_nonce(self.fake.bot_user_id, nonce, ctx.t)
            if earlier is not None:
                return 200, copy.deepcopy(earlier.data)
        stored = self.fake.create_message(
            channel=channel, payload=body, files=ctx.files, author=self.fake.bot_user, route=ctx.route
        )
        if enforced:
            self.fake.remember_nonce(self.fake.bot_user_id, nonce, int(stored.data["id"]), ctx.t)
        return 200, copy.deepcopy(stored.data)

    async def edit_message(self, ctx: Ctx) -> Result:
        """``PATCH /channels/{channel_id}/messages/{message_id}``."""
        channel = self._channel(ctx)
        perms = self._visible(channel)
        stored = self._message_in(channel, ctx)
        body = ctx.body()
        validate_message(
            body, file_count=len(ctx.files), allow_ephemeral=False, current=stored.data
        ).raise_if_any()
        if int(stored.data["author"]["id"]) != self.fake.bot_user_id:
            if set(body) - {"flags"}:
                raise errors.cannot_edit_others()
            if not has(perms, Permission.MANAGE_MESSAGES):
                raise errors.missing_permissions()
        if body.get("embeds") and not has(perms, Permission.EMBED_LINKS):
            raise errors.missing_permissions()
        return 200, self.fake.edit_message(stored, body, ctx.files, route=ctx.route)

    async def delete_message(self, ctx: Ctx) -> Result:
        """``DELETE /channels/{channel_id}/messages/{message_id}``."""
        channel = self._channel(ctx)
        perms = self._visible(channel)
        stored = self._message_in(channel, ctx)
        if int(stored.data["author"]["id"]) != self.fake.bot_user_id and not has(
            perms, Permission.MANAGE_MESSAGES
        ):
            raise errors.missing_permissions()
        self.fake.delete_message(stored)
        return 204, None

    # ---- threads --------------------------------------------------------------------------------

    async def thread_from_message(self, ctx: Ctx) -> Result:
        """``POST /channels/{channel_id}/messages/{message_id}/threads``: thread id == message id."""
        channel = self._channel(ctx)
        perms = self._visible(channel)
        if channel.type not in (GUILD_TEXT, GUILD_ANNOUNCEMENT):
            raise errors.wrong_channel_type()
        stored = self._message_in(channel, ctx)
        body = ctx.body()
        errs = FormErrors()
        validate_thread_fields(errs, body)
        errs.raise_if_any()
        if not has(perms, Permission.CREATE_PUBLIC_THREADS):
            raise errors.missing_permissions()
        mid = int(stored.data["id"])
        guild = self.fake.guilds[channel.guild_id]
        if mid in guild.threads or "thread" in stored.data:
            raise errors.thread_already_exists()
        ttype = ANNOUNCEMENT_THREAD if channel.type == GUILD_ANNOUNCEMENT else PUBLIC_THREAD
        thread = self.fake._new_thread(
            channel, name=body["name"], type=ttype, owner_id=self.fake.bot_user_id, thread_id=mid
        )
        if body.get("auto_archive_duration"):
            thread.auto_archive_duration = int(body["auto_archive_duration"])
        thread.rate_limit_per_user = int(body.get("rate_limit_per_user") or 0)
        stored.data["thread"] = thread.to_dict()
        stored.data["flags"] |= 1 << 5
        self.fake._announce_thread(thread, creator_is_bot=True)
        return 201, thread.to_dict()

    async def thread_without_message(self, ctx: Ctx) -> Result:
        """``POST /channels/{channel_id}/threads`` (text/announcement threads, forum posts)."""
        channel = self._channel(ctx)
        perms = self._visible(channel)
        body = ctx.body()
        errs = FormErrors()
        validate_thread_fields(errs, body)
        guild = self.fake.guilds[channel.guild_id]
        if channel.type in (GUILD_FORUM, GUILD_MEDIA):
            message = body.get("message")
            if message is None:
                errs.required(["message"])
            else:
                errs.merge(
                    ["message"], validate_message(message, file_count=len(ctx.files), allow_ephemeral=False)
                )
            errs.raise_if_any()
            assert isinstance(message, dict)
            if not message_has_body(message, file_count=len(ctx.files)):
                raise errors.empty_message()
            if not has(perms, Permission.SEND_MESSAGES):
                raise errors.missing_permissions()
            thread = self.fake._new_thread(
                channel,
                name=body["name"],
                type=PUBLIC_THREAD,
                owner_id=self.fake.bot_user_id,
                thread_id=self.fake.ids.next(),
            )
            thread.applied_tags = [int(t) for t in body.get("applied_tags") or []]
            starter = self.fake.create_message(
                channel=thread,
                payload=message,
                files=ctx.files,
                author=self.fake.bot_user,
                route=ctx.route,
                message_id=thread.id,
            )
            self.fake._announce_thread(thread, creator_is_bot=True)
            return 201, {**thread.to_dict(), "message": copy.deepcopy(starter.data)}
        if channel.type not in (GUILD_TEXT, GUILD_ANNOUNCEMENT):
            raise errors.wrong_channel_type()
        ttype = body.get("type")
        allowed = (
            (ANNOUNCEMENT_THREAD,) if channel.type == GUILD_ANNOUNCEMENT else (PUBLIC_THREAD, PRIVATE_THREAD)
        )
        if ttype is None:
            errs.required(["type"])
        elif ttype not in allowed:
            errs.choices(["type"], allowed)
        errs.raise_if_any()
        needed = (
            Permission.CREATE_PRIVATE_THREADS if ttype == PRIVATE_THREAD else Permission.CREATE_PUBLIC_THREADS
        )
        if not has(perms, needed):
            raise errors.missing_permissions()
        thread = self.fake._new_thread(
            channel,
            name=body["name"],
            type=int(str(ttype)),
            owner_id=self.fake.bot_user_id,
            thread_id=self.fake.ids.next(),
        )
        if body.get("auto_archive_duration"):
            thread.auto_archive_duration = int(body["auto_archive_duration"])
        thread.invitable = bool(body.get("invitable", True))
        if ttype != PRIVATE_THREAD:
            self.fake.create_message(
                channel=channel,
                payload={"content": thread.name},
                files=[],
                author=self.fake.bot_user,
                route=ctx.route,
                msg_type=18,
                extra={
                    "message_reference": {"type": 0, "channel_id": str(thread.id), "guild_id": str(guild.id)}
                },
            )
        self.fake._announce_thread(thread, creator_is_bot=True)
        return 201, thread.to_dict()

    async def join_thread(self, ctx: Ctx) -> Result:
        """``PUT /channels/{channel_id}/thread-members/@me``."""
        channel = self._channel(ctx)
        if not channel.is_thread:
            raise errors.wrong_channel_type()
        self._visible(channel)
        channel.member_ids.add(self.fake.bot_user_id)
        return 204, None

    async def leave_thread(self, ctx: Ctx) -> Result:
        """``DELETE /channels/{channel_id}/thread-members/@me``."""
        channel = self._channel(ctx)
        if not channel.is_thread:
            raise errors.wrong_channel_type()
        channel.member_ids.discard(self.fake.bot_user_id)
        return 204, None

    # ---- interactions ---------------------------------------------------------------------------

    def _response_type(self, inter: FakeInteraction) -> int:
        if inter.type in (MESSAGE_COMPONENT, MODAL_SUBMIT):
            return 0
        return RESPONSE_MESSAGE_TYPE.get(int(inter.payload.get("data", {}).get("type", 1)), 20)

    def _interaction_metadata(self, inter: FakeInteraction, *, followup_of: int | None = None) -> JSON:
        """A response message's ``interaction_metadata``.

        Spec MessageResponse/properties/interaction_metadata (commit 74fda0f…): one of
        ApplicationCommandInteractionMetadataResponse, MessageComponentInteractionMetadataResponse (requires
        ``interacted_message_id``) and ModalSubmitInteractionMetadataResponse (requires
        ``triggering_interaction_metadata``); docs resources/message#message-interaction-metadata-object.
        """
        user = self.fake.users[inter.user_id].to_dict()
        meta: JSON = {
            "id": str(inter.id),
            "type": inter.type,
            "user": user,
            "authorizing_integration_owners": inter.payload.get("authorizing_integration_owners", {}),
        }
        data = inter.payload.get("data", {})
        if inter.type == APPLICATION_COMMAND:
            meta["name"] = data.get("name")
            meta["command_type"] = data.get("type", 1)
        elif inter.type == MESSAGE_COMPONENT:
            meta["interacted_message_id"] = inter.payload["message"]["id"]
        elif inter.type == MODAL_SUBMIT:
            trigger = self.fake.interactions.get(inter.triggered_by or 0)
            if trigger is not None:
                meta["triggering_interaction_metadata"] = self._interaction_metadata(trigger)
        if followup_of is not None:
            meta["original_response_message_id"] = str(followup_of)
        return meta

    def _interaction_extra(self, inter: FakeInteraction, *, followup_of: int | None = None) -> JSON:
        extra: JSON = {
            "application_id": str(self.fake.application_id),
            "interaction_metadata": self._interaction_metadata(inter, followup_of=followup_of),
        }
        if inter.type == APPLICATION_COMMAND:
            extra["interaction"] = {
                "id": str(inter.id),
                "type": inter.type,
                "name": inter.payload.get("data", {}).get("name"),
                "user": self.fake.users[inter.user_id].to_dict(),
            }
        return extra

    def _interaction_channel(self, inter: FakeInteraction) -> FakeChannel:
        channel = self.fake._find_channel(inter.channel_id)
        if channel is None:
            raise errors.unknown_channel()
        return channel

    async def interaction_callback(self, ctx: Ctx) -> Result:
        """``POST /interactions/{id}/{token}/callback``: the one acknowledgement within 3 s."""
        raw_id = ctx.params["interaction_id"]
        inter = self.fake.interactions.get(int(raw_id)) if raw_id.isdigit() else None
        if inter is None:
            raise errors.unknown_interaction()
        if ctx.params["interaction_token"] != inter.token:
            raise errors.invalid_webhook_token()
        inter.callback_attempts.append(ctx.t)
        if inter.ack is not None:
            raise errors.already_acknowledged()
        if ctx.t - inter.created_at > self.fake.interaction_deadline_s:
            raise errors.unknown_interaction()
        with_response = _query_bool(ctx.query, "with_response")
        body = ctx.body()
        errs = FormErrors()
        cb_type = body.get("type")
        allowed = ALLOWED_CALLBACKS.get(inter.type, ())
        if cb_type is None:
            errs.required(["type"])
        elif cb_type not in allowed:
            errs.choices(["type"], allowed)
        errs.raise_if_any()
        data = body.get("data")
        if data is not None and not isinstance(data, dict):
            errs.add(["data"], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            raise errs.error()
        data = data or {}
        source = self._source_message(inter) if cb_type in (CB_DEFERRED_UPDATE, CB_UPDATE_MESSAGE) else None
        if cb_type in (CB_CHANNEL_MESSAGE, CB_UPDATE_MESSAGE):
            # Spec CreateMessageInteractionCallbackRequest/data (IncomingWebhookInteractionRequest, with tts)
            # and UpdateMessageInteractionCallbackRequest/data (…UpdateForInteractionCallbackRequestPartial).
            checked = validate_message(
                data,
                file_count=len(ctx.files),
                allow_ephemeral=True,
                tts=cb_type == CB_CHANNEL_MESSAGE,
                current=source.data if source is not None else None,
            )
            errs.merge(["data"], checked)
            errs.raise_if_any()
            if cb_type == CB_CHANNEL_MESSAGE and not message_has_body(data, file_count=len(ctx.files)):
                raise errors.empty_message()
        elif cb_type == CB_AUTOCOMPLETE_RESULT:
            self._validate_autocomplete(errs, inter, data)
            errs.raise_if_any()
        elif cb_type == CB_MODAL:
            validate_modal(errs, data)
            errs.raise_if_any()
        message: JSON | None = None
        channel = self._interaction_channel(inter)
        ephemeral = bool(int(data.get("flags") or 0) & FLAG_EPHEMERAL)
        if cb_type == CB_CHANNEL_MESSAGE:
            stored = self.fake.create_message(
                channel=channel,
                payload=data,
                files=ctx.files,
                author=self.fake.bot_user,
                route=ctx.route,
                msg_type=self._response_type(inter),
                ephemeral=ephemeral,
                interaction=inter,
                webhook_id=self.fake.application_id,
                extra=self._interaction_extra(inter),
            )
            inter.original_message_id = int(stored.data["id"])
            message = stored.data
        elif cb_type == CB_DEFERRED_CHANNEL_MESSAGE:
            stored = self.fake.create_message(
                channel=channel,
                payload={"content": ""},
                files=[],
                author=self.fake.bot_user,
                route=ctx.route,
                msg_type=self._response_type(inter),
                ephemeral=ephemeral,
                interaction=inter,
                webhook_id=self.fake.application_id,
                extra=self._interaction_extra(inter),
                flags_extra=FLAG_LOADING,
            )
            inter.original_message_id = int(stored.data["id"])
            message = stored.data
        elif source is not None:  # CB_DEFERRED_UPDATE, CB_UPDATE_MESSAGE
            inter.original_message_id = int(source.data["id"])
            if cb_type == CB_UPDATE_MESSAGE:
                self.fake.edit_message(source, data, ctx.files, route=ctx.route)
                message = source.data
        elif cb_type == CB_AUTOCOMPLETE_RESULT:
            self.fake.autocomplete_results[inter.id] = list(data["choices"])
        elif cb_type == CB_MODAL:
            # Discord gives the modal's components their numeric ids as it does a message's.
            self.fake.modals[inter.id] = {**data, "components": with_ids(data["components"])}
        self.fake.acknowledge(inter, int(str(cb_type)), body.get("data"))
        if not with_response:
            return 204, None
        return 200, self._callback_response(inter, int(str(cb_type)), message)

    def _source_message(self, inter: FakeInteraction) -> StoredMessage:
        """The message a component interaction came from (what types 6 and 7 update)."""
        source = inter.payload.get("message")
        stored = self.fake.stored(int(source["id"])) if source is not None else None
        if stored is None:
            raise errors.unknown_message()
        return stored

    @staticmethod
    def _callback_response(inter: FakeInteraction, cb_type: int, message: JSON | None) -> JSON:
        """The ``with_response`` answer: spec InteractionCallbackResponse (commit 74fda0f…).

        ``resource`` is a oneOf CreateMessageInteractionCallbackResponse (type 4), UpdateMessage… (type 7)
        and LaunchActivity… (type 12), each requiring its ``message``/``activity_instance``; docs
        interactions/receiving-and-responding#interaction-callback-interaction-callback-resource-object say
        the same ("message … Only present if type is either CHANNEL_MESSAGE_WITH_SOURCE or UPDATE_MESSAGE").
        So a deferral (5, 6), an autocomplete result (8) or a modal (9) gets ``interaction`` alone. The
        interaction callback object (spec InteractionResponse) names the message created by types 4 and 5
        (``response_message_*``); ``activity_instance_id`` only comes with a launched Activity.
        """
        callback: JSON = {"id": str(inter.id), "type": inter.type}
        answer: JSON = {"interaction": callback}
        if message is not None and cb_type in (CB_CHANNEL_MESSAGE, CB_DEFERRED_CHANNEL_MESSAGE):
            callback["response_message_id"] = message["id"]
            callback["response_message_loading"] = bool(message["flags"] & FLAG_LOADING)
            callback["response_message_ephemeral"] = bool(message["flags"] & FLAG_EPHEMERAL)
        if message is not None and cb_type in (CB_CHANNEL_MESSAGE, CB_UPDATE_MESSAGE):
            answer["resource"] = {"type": cb_type, "message": copy.deepcopy(message)}
        return answer

    @staticmethod
    def _validate_autocomplete(errs: FormErrors, inter: FakeInteraction, data: JSON) -> None:
        """Spec ApplicationCommandAutocompleteCallbackRequest: ``data.choices`` (max 25), each choice an
        ApplicationCommandOption{String,Integer,Number}Choice matching the focused option's type; docs
        interactions/receiving-and-responding#interaction-response-object-autocomplete (max of 25 choices)."""
        choices = data.get("choices")
        if choices is None:
            errs.required(["data", "choices"])
            return
        if not isinstance(choices, list):
            errs.wrong_type(["data", "choices"], "array")
            return
        if len(choices) > AUTOCOMPLETE_CHOICES_MAX:
            errs.max_length(["data", "choices"], AUTOCOMPLETE_CHOICES_MAX)
        focused_type = _focused_option_type(inter.payload.get("data", {}).get("options") or [])
        for i, choice in enumerate(choices):
            validate_choice(errs, ["data", "choices", i], choice, focused_type)

    def _hook_interaction(self, ctx: Ctx) -> FakeInteraction:
        if ctx.params["webhook_id"] != str(self.fake.application_id):
            raise errors.unknown_webhook()
        inter = self.fake.interactions_by_token.get(ctx.params["webhook_token"])
        if inter is None or ctx.t - inter.created_at > self.fake.token_lifetime_s:
            raise errors.invalid_webhook_token()
        return inter

    def _hook_message(self, ctx: Ctx, inter: FakeInteraction) -> StoredMessage:
        if inter.ack is None:
            raise errors.unknown_webhook()
        raw = ctx.params.get("message_id")
        if raw is None:  # @original
            if inter.original_message_id is None:
                raise errors.unknown_message()
            mid = inter.original_message_id
        else:
            mid = _snowflake("message_id", raw)
            if mid != inter.original_message_id and mid not in inter.followup_ids:
                raise errors.unknown_message()
        stored = self.fake.stored(mid)
        if stored is None:
            raise errors.unknown_message()
        return stored

    async def get_webhook_message(self, ctx: Ctx) -> Result:
        """``GET /webhooks/{app}/{token}/messages/@original|{id}``."""
        inter = self._hook_interaction(ctx)
        return 200, copy.deepcopy(self._hook_message(ctx, inter).data)

    async def edit_webhook_message(self, ctx: Ctx) -> Result:
        """``PATCH /webhooks/{app}/{token}/messages/@original|{id}``."""
        inter = self._hook_interaction(ctx)
        stored = self._hook_message(ctx, inter)
        body = ctx.body()
        validate_message(
            body, file_count=len(ctx.files), allow_ephemeral=True, current=stored.data
        ).raise_if_any()
        return 200, self.fake.edit_message(stored, body, ctx.files, route=ctx.route)

    async def delete_webhook_message(self, ctx: Ctx) -> Result:
        """``DELETE /webhooks/{app}/{token}/messages/@original|{id}``."""
        inter = self._hook_interaction(ctx)
        self.fake.delete_message(self._hook_message(ctx, inter))
        return 204, None

    async def execute_webhook(self, ctx: Ctx) -> Result:
        """``POST /webhooks/{app}/{token}``: an interaction followup (always answered with the message).

        The first followup after a deferred (type 5) response replaces the loading message in place.
        """
        inter = self._hook_interaction(ctx)
        if inter.ack is None:
            raise errors.unknown_webhook()
        body = ctx.body()
        # Spec IncomingWebhookRequestPartial (commit 74fda0f…): ``tts`` but no ``nonce``.
        validate_message(body, file_count=len(ctx.files), allow_ephemeral=True, tts=True).raise_if_any()
        if not message_has_body(body, file_count=len(ctx.files)):
            raise errors.empty_message()
        original = self.fake.stored(inter.original_message_id) if inter.original_message_id else None
        if (
            inter.ack.type == CB_DEFERRED_CHANNEL_MESSAGE
            and inter.original_message_id is not None
            and original is None
        ):
            raise errors.unknown_message()
        if original is not None and original.data["flags"] & FLAG_LOADING:
            # The loading message keeps its EPHEMERAL state; IS_COMPONENTS_V2 may still be set on it.
            edit = {k: v for k, v in body.items() if k != "flags"}
            if int(body.get("flags") or 0) & FLAG_IS_COMPONENTS_V2:
                edit["flags"] = FLAG_IS_COMPONENTS_V2
            return 200, self.fake.edit_message(original, edit, ctx.files, route=ctx.route)
        channel = self._interaction_channel(inter)
        ephemeral = bool(int(body.get("flags") or 0) & FLAG_EPHEMERAL)
        stored = self.fake.create_message(
            channel=channel,
            payload=body,
            files=ctx.files,
            author=self.fake.bot_user,
            route=ctx.route,
            msg_type=self._response_type(inter),
            ephemeral=ephemeral,
            interaction=inter,
            webhook_id=self.fake.application_id,
            extra=self._interaction_extra(inter, followup_of=inter.original_message_id),
        )
        inter.followup_ids.append(int(stored.data["id"]))
        return 200, copy.deepcopy(stored.data)
