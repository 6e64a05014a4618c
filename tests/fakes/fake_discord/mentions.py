"""Which mentions in a new message notify someone, per ``allowed_mentions`` (absent → parse everything)."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

USER_MENTION = re.compile(r"<@!?(\d{15,21})>")
ROLE_MENTION = re.compile(r"<@&(\d{15,21})>")
EVERYONE = re.compile(r"@(everyone|here)\b")


@dataclass
class MentionResult:
    """Parsed and allowed mentions of one message."""

    users: list[int] = field(default_factory=list)
    roles: list[int] = field(default_factory=list)
    everyone: bool = False
    here: bool = False
    reply_user: int | None = None


def resolve_mentions(
    content: str,
    allowed_mentions: dict[str, Any] | None,
    *,
    known_users: Collection[int],
    known_roles: Collection[int],
    reply_author: int | None = None,
) -> MentionResult:
    """Compute the mentions Discord would honour: ``allowed_mentions`` decides, unknown ids never ping."""
    if allowed_mentions is None:
        parse = {"users", "roles", "everyone"}
        user_list: set[int] = set()
        role_list: set[int] = set()
        replied = True
    else:
        parse = {p for p in allowed_mentions.get("parse") or [] if isinstance(p, str)}
        user_list = {int(u) for u in allowed_mentions.get("users") or []}
        role_list = {int(r) for r in allowed_mentions.get("roles") or []}
        replied = bool(allowed_mentions.get("replied_user", False))
    result = MentionResult()
    for match in USER_MENTION.finditer(content):
        uid = int(match.group(1))
        if uid in known_users and ("users" in parse or uid in user_list) and uid not in result.users:
            result.users.append(uid)
    for match in ROLE_MENTION.finditer(content):
        rid = int(match.group(1))
        if rid in known_roles and ("roles" in parse or rid in role_list) and rid not in result.roles:
            result.roles.append(rid)
    if "everyone" in parse:
        for match in EVERYONE.finditer(content):
            if match.group(1) == "everyone":
                result.everyone = True
            else:
                result.here = True
    if reply_author is not None and replied:
        result.reply_user = reply_author
    return result
