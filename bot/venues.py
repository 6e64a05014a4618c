"""Where a debate can take place, decided from the channel and the bot's permissions there."""

from __future__ import annotations

from enum import Enum

import discord
from discord import app_commands

from bot.core.translation import _
from bot.errors import UserFacingError

THREADS = {
    discord.ChannelType.public_thread,
    discord.ChannelType.private_thread,
    discord.ChannelType.news_thread,
}
CAN_HOLD_THREADS = {discord.ChannelType.text, discord.ChannelType.news}
CAN_HOLD_MESSAGES = {*CAN_HOLD_THREADS, discord.ChannelType.voice, discord.ChannelType.stage_voice}

NEW_THREAD_NEEDS = discord.Permissions(
    view_channel=True, embed_links=True, create_public_threads=True, send_messages_in_threads=True
)
THIS_THREAD_NEEDS = discord.Permissions(view_channel=True, embed_links=True, send_messages_in_threads=True)
THIS_CHANNEL_NEEDS = discord.Permissions(view_channel=True, embed_links=True, send_messages=True)


class Venue(Enum):
    """A new thread under the status message; the thread the command was used in; the channel itself."""

    NEW_THREAD = "new thread"
    THIS_THREAD = "this thread"
    THIS_CHANNEL = "this channel"


def _missing(needed: discord.Permissions, granted: discord.Permissions) -> list[str]:
    return [name for name, wanted in needed if wanted and not getattr(granted, name)]


def can_post_in_channel(granted: discord.Permissions) -> bool:
    return not _missing(THIS_CHANNEL_NEEDS, granted)


def choose_venue(channel_type: discord.ChannelType | None, granted: discord.Permissions) -> Venue:
    """The best venue the bot's permissions allow; :class:`app_commands.BotMissingPermissions` if none.

    A thread of its own keeps the channel tidy; without thread permissions (or in a voice channel's chat)
    the debate runs in the channel; used inside a thread, it stays in that thread.
    """
    if channel_type in THREADS:
        missing = _missing(THIS_THREAD_NEEDS, granted)
        if missing:
            raise app_commands.BotMissingPermissions(missing)
        return Venue.THIS_THREAD
    if channel_type in CAN_HOLD_THREADS and not _missing(NEW_THREAD_NEEDS, granted):
        return Venue.NEW_THREAD
    if channel_type is None or channel_type in CAN_HOLD_MESSAGES:
        missing = _missing(THIS_CHANNEL_NEEDS, granted)
        if not missing:
            return Venue.THIS_CHANNEL
        raise app_commands.BotMissingPermissions(missing)
    raise UserFacingError(
        _("Debates can't run in this kind of channel: use /debate in a text channel or a thread.")
    )
