"""Building realistic INTERACTION_CREATE payloads for commands the bot registered, and sending them."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .models import (
    JSON,
    THREAD_TYPES,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeRole,
    FakeUser,
)
from .permissions import ALL_PERMISSIONS, Permission, has
from .snowflake import shard_for
from .validation import (
    ATTACHMENT,
    BOOLEAN,
    CHANNEL,
    CHAT_INPUT,
    INTEGER,
    MAX_SAFE_INTEGER,
    MENTIONABLE,
    NUMBER,
    ROLE,
    STRING,
    SUB_COMMAND,
    SUB_COMMAND_GROUP,
    USER,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


class CommandNotRegisteredError(LookupError):
    """The invoked command was never synced (globally or to that guild)."""


class CommandNotAvailableError(PermissionError):
    """Discord's client would not offer the command to this member here."""


class InvalidCommandOptionsError(ValueError):
    """Options that Discord's client would refuse to send (type, choices, length, required…)."""


def _token(interaction_id: int) -> str:
    raw = f"interaction:{interaction_id}:{secrets.token_urlsafe(48)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _describe(commands: list[JSON]) -> str:
    return ", ".join(sorted(f"/{c['name']}" for c in commands)) or "none"


def find_command(fake: FakeDiscord, name: str, guild: FakeGuild | None, command_type: int) -> JSON:
    """The registered command a user would pick: the guild's own first, then global."""
    scopes: list[list[JSON]] = []
    if guild is not None:
        scopes.append(fake.guild_commands.get(guild.id, []))
    scopes.append(fake.global_commands)
    for store in scopes:
        for cmd in store:
            if cmd["name"] == name and int(cmd["type"]) == command_type:
                return cmd
    where = f"guild {guild.id}" if guild else "DMs"
    raise CommandNotRegisteredError(
        f"command {name!r} (type {command_type}) was never registered for {where}; "
        f"global: {_describe(fake.global_commands)}; "
        f"guild: {_describe(fake.guild_commands.get(guild.id, []) if guild else [])}"
    )


def _check_available(
    fake: FakeDiscord, cmd: JSON, guild: FakeGuild, channel: FakeChannel, member: FakeMember
) -> int:
    """Raise unless the member could see and use the command in the channel; returns their permissions."""
    perms = fake.permissions_for(member, channel)
    if not has(perms, Permission.VIEW_CHANNEL):
        raise CommandNotAvailableError(f"{member.user.username} cannot view channel {channel.name}")
    if not has(perms, Permission.USE_APPLICATION_COMMANDS):
        raise CommandNotAvailableError(
            f"{member.user.username} lacks USE_APPLICATION_COMMANDS in {channel.name}"
        )
    contexts = cmd.get("contexts")
    if "guild_id" not in cmd and contexts is not None and 0 not in contexts:
        raise CommandNotAvailableError(f"/{cmd['name']} is not available in guilds (contexts={contexts})")
    if 0 not in (cmd.get("integration_types") or [0]):
        raise CommandNotAvailableError(f"/{cmd['name']} is not installed to guilds")
    allowed = fake.command_overrides.get((guild.id, cmd["name"]), set())
    if allowed & {member.id, guild.id, *member.roles}:
        return perms  # a server override lets this member use the command whatever its defaults
    dmp = cmd.get("default_member_permissions")
    if dmp is not None:
        needed = int(dmp)
        is_admin = fake.guild_permissions(guild, member.id) == ALL_PERMISSIONS
        if (needed == 0 and not is_admin) or not has(perms, needed):
            raise CommandNotAvailableError(
                f"/{cmd['name']} needs permissions {needed} (default_member_permissions); member has {perms}"
            )
    return perms


class _Resolver:
    """Accumulates the ``resolved`` section for user/channel/role/attachment options."""

    def __init__(self, fake: FakeDiscord, guild: FakeGuild, channel: FakeChannel) -> None:
        self.fake = fake
        self.guild = guild
        self.channel = channel
        self.data: dict[str, dict[str, JSON]] = {}

    def _put(self, kind: str, key: int, value: JSON) -> None:
        self.data.setdefault(kind, {})[str(key)] = value

    def user(self, value: Any, option: str) -> int:
        uid = value.id if isinstance(value, FakeMember | FakeUser) else value
        if not isinstance(uid, int) or uid not in self.fake.users:
            raise InvalidCommandOptionsError(f"option {option!r}: unknown user {value!r}")
        self._put("users", uid, self.fake.users[uid].to_dict())
        member = self.guild.members.get(uid)
        if member is not None:
            perms = self.fake.permissions_for(member, self.channel)
            self._put("members", uid, member.to_dict(with_user=False, permissions=perms))
        return uid

    def role(self, value: Any, option: str) -> int:
        rid = value.id if isinstance(value, FakeRole) else value
        if not isinstance(rid, int) or rid not in self.guild.roles:
            raise InvalidCommandOptionsError(f"option {option!r}: unknown role {value!r}")
        self._put("roles", rid, self.guild.roles[rid].to_dict())
        return rid

    def channel_option(
        self, value: Any, option: str, member: FakeMember, channel_types: list[int] | None
    ) -> int:
        ch: FakeChannel | None = None
        if isinstance(value, FakeChannel):
            ch = value
        elif isinstance(value, int):
            ch = self.guild.channel(value)
        if ch is None or ch.guild_id != self.guild.id:
            raise InvalidCommandOptionsError(f"option {option!r}: unknown channel {value!r}")
        if channel_types is not None and ch.type not in channel_types:
            raise InvalidCommandOptionsError(
                f"option {option!r}: channel type {ch.type} not in {channel_types}"
            )
        perms = self.fake.permissions_for(member, ch)
        data: JSON = {
            "id": str(ch.id),
            "name": ch.name,
            "type": ch.type,
            "permissions": str(perms),
            "flags": 0,
        }
        if ch.type in THREAD_TYPES:
            full = ch.to_dict()
            data.update({"parent_id": full["parent_id"], "thread_metadata": full["thread_metadata"]})
        elif ch.parent_id:
            data["parent_id"] = str(ch.parent_id)
        self._put("channels", ch.id, data)
        return ch.id

    def attachment(self, value: Any, option: str) -> int:
        if isinstance(value, tuple) and len(value) == 2:
            filename, blob = value
        elif isinstance(value, dict) and "filename" in value:
            filename, blob = value["filename"], value.get("data", b"")
        else:
            raise InvalidCommandOptionsError(f"option {option!r}: attachments are (filename, bytes) tuples")
        att_id = self.fake.ids.next()
        key = f"ephemeral-attachments/{att_id}/{filename}"
        self.fake.cdn[key] = (bytes(blob), "application/octet-stream")
        url = f"{self.fake.base_url}/attachments/{key}"
        self._put(
            "attachments",
            att_id,
            {
                "id": str(att_id),
                "filename": filename,
                "size": len(blob),
                "url": url,
                "proxy_url": url,
                "content_type": "application/octet-stream",
                "ephemeral": True,
            },
        )
        return att_id


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_value(opt: JSON, value: Any, *, autocomplete: bool) -> Any:
    """Type, range, length and choice checks for one primitive option value."""
    name = opt["name"]
    otype = int(opt["type"])
    if otype == STRING:
        if not isinstance(value, str):
            raise InvalidCommandOptionsError(f"option {name!r} expects a string, got {value!r}")
        if not autocomplete:
            low, high = int(opt.get("min_length", 0)), int(opt.get("max_length", 6000))
            if not low <= len(value) <= high:
                raise InvalidCommandOptionsError(
                    f"option {name!r} length {len(value)} outside [{low}, {high}]"
                )
    elif otype == INTEGER:
        if not _is_int(value) or not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            if autocomplete and isinstance(value, str):
                return value
            raise InvalidCommandOptionsError(f"option {name!r} expects an integer, got {value!r}")
    elif otype == NUMBER:
        if not (_is_int(value) or isinstance(value, float)):
            if autocomplete and isinstance(value, str):
                return value
            raise InvalidCommandOptionsError(f"option {name!r} expects a number, got {value!r}")
    elif otype == BOOLEAN and not isinstance(value, bool):
        raise InvalidCommandOptionsError(f"option {name!r} expects a boolean, got {value!r}")
    if otype in (INTEGER, NUMBER) and not autocomplete:
        if "min_value" in opt and value < opt["min_value"]:
            raise InvalidCommandOptionsError(f"option {name!r} below min_value {opt['min_value']}")
        if "max_value" in opt and value > opt["max_value"]:
            raise InvalidCommandOptionsError(f"option {name!r} above max_value {opt['max_value']}")
    choices = opt.get("choices")
    if choices and not autocomplete and value not in [c["value"] for c in choices]:
        raise InvalidCommandOptionsError(f"option {name!r}: {value!r} is not one of the registered choices")
    return value


def _build_leaf_options(
    schema: list[JSON],
    provided: Mapping[str, Any],
    resolver: _Resolver,
    member: FakeMember,
    *,
    focused: str | None,
) -> list[JSON]:
    by_name = {o["name"]: o for o in schema}
    unknown = set(provided) - set(by_name)
    if unknown:
        raise InvalidCommandOptionsError(
            f"unknown option(s) {sorted(unknown)}; registered: {sorted(by_name)}"
        )
    if focused is None:
        missing = [o["name"] for o in schema if o.get("required") and o["name"] not in provided]
        if missing:
            raise InvalidCommandOptionsError(f"missing required option(s) {missing}")
    elif focused not in by_name or not by_name[focused].get("autocomplete"):
        raise InvalidCommandOptionsError(f"option {focused!r} does not have autocomplete enabled")
    out: list[JSON] = []
    for opt in schema:
        if opt["name"] not in provided:
            continue
        value = provided[opt["name"]]
        otype = int(opt["type"])
        is_focus = opt["name"] == focused
        if otype == USER:
            wire: Any = str(resolver.user(value, opt["name"]))
        elif otype == ROLE:
            wire = str(resolver.role(value, opt["name"]))
        elif otype == MENTIONABLE:
            wire = str(
                resolver.role(value, opt["name"])
                if isinstance(value, FakeRole) or (isinstance(value, int) and value in resolver.guild.roles)
                else resolver.user(value, opt["name"])
            )
        elif otype == CHANNEL:
            wire = str(resolver.channel_option(value, opt["name"], member, opt.get("channel_types")))
        elif otype == ATTACHMENT:
            wire = str(resolver.attachment(value, opt["name"]))
        else:
            wire = _check_value(opt, value, autocomplete=focused is not None)
        item: JSON = {"name": opt["name"], "type": otype, "value": wire}
        if is_focus:
            item["focused"] = True
        out.append(item)
    return out


def _build_options(
    cmd: JSON,
    path: list[str],
    provided: Mapping[str, Any],
    resolver: _Resolver,
    member: FakeMember,
    *,
    focused: str | None,
) -> list[JSON]:
    schema: list[JSON] = cmd.get("options") or []
    nested = [o for o in schema if int(o["type"]) in (SUB_COMMAND, SUB_COMMAND_GROUP)]
    if not path:
        if nested:
            raise InvalidCommandOptionsError(
                f"/{cmd['name']} has sub-commands {[o['name'] for o in nested]}; "
                f"invoke it as '{cmd['name']} <sub-command>'"
            )
        return _build_leaf_options(schema, provided, resolver, member, focused=focused)
    head, rest = path[0], path[1:]
    sub = next((o for o in nested if o["name"] == head), None)
    if sub is None:
        raise InvalidCommandOptionsError(f"/{cmd['name']} has no sub-command {head!r}")
    inner = _build_options(sub, rest, provided, resolver, member, focused=focused)
    item: JSON = {"name": head, "type": int(sub["type"])}
    if inner or int(sub["type"]) == SUB_COMMAND_GROUP:
        item["options"] = inner
    return [item]


def _channel_payload(channel: FakeChannel, perms: int) -> JSON:
    data = channel.to_dict()
    data.pop("permission_overwrites", None)
    data["permissions"] = str(perms)
    return data


def new_interaction(
    fake: FakeDiscord,
    *,
    itype: int,
    guild: FakeGuild,
    channel: FakeChannel,
    member: FakeMember,
    data: JSON,
    locale: str,
    message: JSON | None = None,
) -> FakeInteraction:
    """Assemble the INTERACTION_CREATE payload (guild context) and register the interaction."""
    if fake.bot_user_id not in guild.members:
        raise CommandNotAvailableError(f"the bot is not in guild {guild.id}")
    iid = fake.ids.next()
    token = _token(iid)
    member_perms = fake.permissions_for(member, channel)
    payload: JSON = {
        "app_permissions": str(fake.bot_permissions_in(channel)),
        "application_id": str(fake.application_id),
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        "authorizing_integration_owners": {"0": str(guild.id)},
        "channel": _channel_payload(channel, member_perms),
        "channel_id": str(channel.id),
        "context": 0,
        "data": data,
        "entitlement_sku_ids": [],
        "entitlements": [],
        "guild": guild.summary(),
        "guild_id": str(guild.id),
        "guild_locale": guild.locale,
        "id": str(iid),
        "locale": locale,
        "member": member.to_dict(permissions=member_perms),
        "token": token,
        "type": itype,
        "version": 1,
    }
    if message is not None:
        payload["message"] = message
    inter = FakeInteraction(
        id=iid,
        token=token,
        type=itype,
        application_id=fake.application_id,
        guild_id=guild.id,
        channel_id=channel.id,
        user_id=member.id,
        payload=payload,
        created_at=time.monotonic(),
        _fake=fake,
    )
    fake.interactions[iid] = inter
    fake.interactions_by_token[token] = inter
    return inter


async def send_interaction(fake: FakeDiscord, inter: FakeInteraction) -> FakeInteraction:
    """Dispatch INTERACTION_CREATE to the live session owning the guild; records ``dispatched_at``."""
    gid = inter.guild_id
    assert gid is not None
    sessions = [s for s in fake.gateway.active_sessions() if s.ready.is_set() and s.owns(gid)]
    if not sessions:
        raise RuntimeError(
            f"no live gateway session owns guild {gid} (shard {shard_for(gid, fake.shard_count)} of "
            f"{fake.shard_count}); did the bot connect and await fake.wait_until_ready()?"
        )
    session = sessions[0]
    inter.shard_id = session.shard_id
    fut = session.dispatch("INTERACTION_CREATE", inter.payload, track=True)
    assert fut is not None
    inter.dispatched_at = await fut
    return inter


def resolve_context(
    fake: FakeDiscord, guild: FakeGuild | None, channel: FakeChannel | None, member: FakeMember | None
) -> tuple[FakeGuild, FakeChannel, FakeMember]:
    """Default guild (the only one), channel (#general) and member (the owner)."""
    if guild is None:
        if channel is not None:
            guild = fake.guilds[channel.guild_id]
        elif len(fake.guilds) == 1:
            guild = next(iter(fake.guilds.values()))
        else:
            raise ValueError("pass guild= (the fake has several guilds)")
    channel = channel or guild.text_channel
    if channel.guild_id != guild.id:
        raise ValueError(f"channel {channel.id} is not in guild {guild.id}")
    member = member or guild.members[guild.owner_id]
    if member.id not in guild.members:
        raise ValueError(f"member {member.id} is not in guild {guild.id}")
    return guild, channel, member


def command_data(
    fake: FakeDiscord,
    name: str,
    *,
    guild: FakeGuild,
    channel: FakeChannel,
    member: FakeMember,
    options: Mapping[str, Any],
    command_type: int,
    target: Any = None,
    focused: str | None = None,
) -> JSON:
    """The ``data`` of an APPLICATION_COMMAND / AUTOCOMPLETE interaction, checked against the schema."""
    path = name.split() if command_type == CHAT_INPUT else [name]
    cmd = find_command(fake, path[0], guild, command_type)
    _check_available(fake, cmd, guild, channel, member)
    resolver = _Resolver(fake, guild, channel)
    data: JSON = {"id": cmd["id"], "name": cmd["name"], "type": command_type}
    if command_type == CHAT_INPUT:
        opts = _build_options(cmd, path[1:], options, resolver, member, focused=focused)
        if opts:
            data["options"] = opts
    else:
        if target is None:
            raise InvalidCommandOptionsError("context-menu commands need target=")
        if command_type == 2:
            data["target_id"] = str(resolver.user(target, "target"))
        else:
            msg = target if isinstance(target, dict) else fake.message(int(target))
            if msg is None:
                raise InvalidCommandOptionsError(f"unknown target message {target!r}")
            resolver._put("messages", int(msg["id"]), msg)
            data["target_id"] = msg["id"]
    if resolver.data:
        data["resolved"] = resolver.data
    if "guild_id" in cmd:
        data["guild_id"] = cmd["guild_id"]
    return data


def find_component(components: list[JSON], custom_id: str) -> JSON | None:
    """Depth-first search for an interactive component by custom_id."""
    for comp in components:
        if comp.get("custom_id") == custom_id:
            return comp
        for key in ("components", "accessory", "component"):
            child = comp.get(key)
            children = child if isinstance(child, list) else [child] if isinstance(child, dict) else []
            found = find_component(children, custom_id)
            if found is not None:
                return found
    return None


def modal_submit_components(modal: JSON, values: Mapping[str, Any]) -> list[JSON]:
    """Echo a modal's structure with the submitted values, as Discord's MODAL_SUBMIT data carries it.

    Docs components/reference: the interaction response structures of Action Row, Label, Text Display and
    Text Input carry the component's numeric ``id``; a text input adds ``custom_id`` and ``value``, a select
    or other Label child ``custom_id`` and ``values``.
    """
    out: list[JSON] = []
    seen: set[str] = set()

    def submitted(child: JSON) -> JSON:
        cid = str(child.get("custom_id"))
        seen.add(cid)
        ctype = child.get("type", 4)
        echoed: JSON = {"type": ctype, "id": child.get("id"), "custom_id": cid}
        if ctype == 4:
            # A field the test leaves out is submitted as shown: with its pre-filled value.
            echoed["value"] = values.get(cid, child.get("value", ""))
        else:
            echoed["values"] = values.get(cid, [])
        return echoed

    for comp in modal.get("components") or []:
        ctype = comp.get("type")
        if ctype == 1:
            inner = [submitted(child) for child in comp.get("components") or []]
            out.append({"type": 1, "id": comp.get("id"), "components": inner})
        elif ctype == 18 and isinstance(comp.get("component"), dict):
            out.append({"type": 18, "id": comp.get("id"), "component": submitted(comp["component"])})
        elif ctype == 10:
            out.append({"type": 10, "id": comp.get("id")})
    unknown = set(values) - seen
    if unknown:
        raise InvalidCommandOptionsError(f"modal has no inputs {sorted(unknown)}")
    return out
