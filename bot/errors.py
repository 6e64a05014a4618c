"""Every app-command error becomes one clear, ephemeral message; the unexpected ones get a reference id.

Private replies always fit Discord's limits: what does not fit in a message goes out as a text file.
"""

from __future__ import annotations

import contextlib
import io
import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from typing import Any

import discord
from discord import app_commands

from bot.core.limits import Refused
from bot.core.render import CONTENT_LIMIT
from bot.core.text import overflow, truncate
from bot.core.translation import N_, _
from bot.core.validation import Invalid
from bot.i18n import speak_to

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
PROBLEMS_FILE = "problems.txt"
OVERFLOW_NOTE = N_("…and more: the whole message is in the attached {file}.")


class UserFacingError(app_commands.AppCommandError):
    """A refusal or problem whose message is written for the member who ran the command."""


class NotModerator(app_commands.CheckFailure):
    """The member is neither a Manage Server holder nor has the server's moderator role."""

    def __init__(self, moderator_role_id: int | None) -> None:
        super().__init__("not a moderator")
        self.moderator_role_id = moderator_role_id

    def explain(self) -> str:
        if self.moderator_role_id:
            return _(
                "Only moderators can do this: it needs the **Manage Server** permission or the {role} role."
            ).format(role=f"<@&{self.moderator_role_id}>")
        return _("Only moderators can do this: it needs the **Manage Server** permission.")


class BotActionForbidden(app_commands.AppCommandError):
    """Discord refused an action because the bot lacks ``permission`` where it acted."""

    def __init__(self, permission: str, action: str) -> None:
        super().__init__(f"missing {permission} to {action}")
        self.permission = permission
        self.action = action


@contextlib.asynccontextmanager
async def needs_permission(permission: str, action: str) -> AsyncIterator[None]:
    """Turn a 403 from the Discord calls inside into :class:`BotActionForbidden` naming ``permission``."""
    try:
        yield
    except discord.Forbidden as error:
        raise BotActionForbidden(permission, action) from error


DISPLAY_NAMES = {"read_messages": "view_channel", "manage_guild": "manage_server"}
"""discord.py's names for permissions that Discord's own interface calls otherwise."""


def permission_names(permissions: list[str]) -> str:
    """``['create_public_threads', 'embed_links']`` → ``**Create Public Threads** and **Embed Links**``
    (the names as Discord's English interface shows them; the ``and`` in the reader's language)."""
    shown = [DISPLAY_NAMES.get(name, name) for name in permissions]
    names = [f"**{name.replace('_', ' ').title()}**" for name in shown]
    if len(names) == 1:
        return names[0]
    return _("{names} and {last}").format(names=", ".join(names[:-1]), last=names[-1])


def describe(error: BaseException) -> tuple[str, str | None]:
    """The message for the member, and a reference id when the error was unexpected (and must be logged)."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    match error:
        case UserFacingError() | Invalid() | Refused():
            return str(error), None
        case BotActionForbidden(permission=permission, action=action):
            return (
                _(
                    "I'm missing the **{permission}** permission here, so I couldn't {action}. "
                    "Ask a moderator to grant it, then try again."
                ).format(permission=permission, action=_(action)),
                None,
            )
        case app_commands.BotMissingPermissions(missing_permissions=missing):
            return (
                _(
                    "I need the {permissions} permission in this channel. "
                    "Ask a moderator to grant it, then try again."
                ).format(permissions=permission_names(missing)),
                None,
            )
        case app_commands.MissingPermissions(missing_permissions=missing):
            message = _("You need the {permissions} permission to use this command.")
            return message.format(permissions=permission_names(missing)), None
        case NotModerator():
            return error.explain(), None
        case app_commands.NoPrivateMessage():
            return _("This command only works inside a server."), None
        case app_commands.CommandOnCooldown(retry_after=retry_after):
            message = _("Slow down: you can use this again in {seconds} s.")
            return message.format(seconds=f"{retry_after:.0f}"), None
        case app_commands.TransformerError():
            message = _("That option value isn't valid: {problem}")
            return message.format(problem=truncate(str(error), 300)), None
        case app_commands.CheckFailure():
            return _("You can't use this command here."), None
        case discord.Forbidden(text=text, code=code):
            message = _("Discord refused one of my actions for lack of permission ({text}, {code}).")
            return message.format(text=text or "Forbidden", code=code), None
    reference = secrets.token_hex(4)
    log.error("unexpected error (ref %s)", reference, exc_info=error)
    return (
        _(
            "Something went wrong on my side (ref `{reference}`). "
            "Please try again; if it keeps happening, give the moderators this reference."
        ).format(reference=reference),
        reference,
    )


def fitted(content: str, files: Sequence[discord.File] = ()) -> tuple[str, list[discord.File]]:
    """``content`` within Discord's 2000 characters; lines that do not fit go whole into problems.txt."""
    message, spilled = overflow(content, CONTENT_LIMIT, _(OVERFLOW_NOTE).format(file=PROBLEMS_FILE))
    attached = list(files)
    if spilled is not None:
        attached.append(discord.File(io.BytesIO(spilled.encode()), filename=PROBLEMS_FILE))
    return message, attached


async def acknowledge_privately(interaction: discord.Interaction[Any]) -> None:
    """Acknowledge within Discord's 3 seconds, privately, before anything slow; :func:`send_private`
    then answers with the follow-up that replaces Discord's "thinking…" message."""
    await interaction.response.defer(ephemeral=True, thinking=True)


async def send_private(
    interaction: discord.Interaction[Any],
    content: str = "",
    *,
    embed: discord.Embed | None = None,
    files: Sequence[discord.File] = (),
) -> None:
    """Answer ``interaction`` ephemerally, without pings: the response itself, or after a deferral the
    follow-up that replaces Discord's "thinking…" message. Long content spills into problems.txt."""
    message, attached = fitted(content, files)
    extra: dict[str, Any] = {"content": message} if message else {}
    if embed is not None:
        extra["embed"] = embed
    if attached:
        extra["files"] = attached
    if interaction.response.is_done():
        await interaction.followup.send(ephemeral=True, allowed_mentions=NO_PINGS, **extra)
    else:
        await interaction.response.send_message(ephemeral=True, allowed_mentions=NO_PINGS, **extra)


async def report(interaction: discord.Interaction[Any], error: BaseException) -> None:
    """Tell the member what went wrong, privately and in their language, whether or not the interaction
    was answered yet."""
    speak_to(interaction)
    message, _reference = describe(error)
    try:
        await send_private(interaction, message)
    except discord.HTTPException as send_error:
        log.warning("could not report an error to the member: %s", send_error)
