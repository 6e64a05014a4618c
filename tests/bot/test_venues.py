"""Where a debate goes: a new thread, the thread it was asked in, or the channel; else a clear refusal."""

from __future__ import annotations

import discord
import pytest
from discord import app_commands

from bot.errors import UserFacingError
from bot.venues import NEW_THREAD_NEEDS, THIS_CHANNEL_NEEDS, THIS_THREAD_NEEDS, Venue, choose_venue

T = discord.ChannelType
EVERYTHING = NEW_THREAD_NEEDS | THIS_CHANNEL_NEEDS


def without(permissions: discord.Permissions, **removed: bool) -> discord.Permissions:
    result = discord.Permissions(permissions.value)
    result.update(**dict.fromkeys(removed, False))
    return result


def test_a_text_channel_gets_a_thread_of_its_own() -> None:
    assert choose_venue(T.text, EVERYTHING) is Venue.NEW_THREAD
    assert choose_venue(T.news, EVERYTHING) is Venue.NEW_THREAD


def test_without_thread_permissions_the_channel_itself_hosts_the_debate() -> None:
    assert choose_venue(T.text, without(EVERYTHING, create_public_threads=True)) is Venue.THIS_CHANNEL
    assert choose_venue(T.text, without(EVERYTHING, send_messages_in_threads=True)) is Venue.THIS_CHANNEL
    assert choose_venue(T.voice, EVERYTHING) is Venue.THIS_CHANNEL  # a voice channel's chat has no threads


def test_inside_a_thread_the_debate_stays_there() -> None:
    for thread in (T.public_thread, T.private_thread, T.news_thread):
        assert choose_venue(thread, THIS_THREAD_NEEDS) is Venue.THIS_THREAD
    with pytest.raises(app_commands.BotMissingPermissions) as caught:
        choose_venue(T.public_thread, without(THIS_THREAD_NEEDS, send_messages_in_threads=True))
    assert caught.value.missing_permissions == ["send_messages_in_threads"]


def test_with_nowhere_to_post_the_missing_permissions_are_named() -> None:
    with pytest.raises(app_commands.BotMissingPermissions) as caught:
        choose_venue(T.text, without(EVERYTHING, create_public_threads=True, send_messages=True))
    assert caught.value.missing_permissions == ["send_messages"]
    with pytest.raises(app_commands.BotMissingPermissions) as caught:
        choose_venue(T.text, discord.Permissions.none())
    assert set(caught.value.missing_permissions) == {"read_messages", "embed_links", "send_messages"}


def test_other_kinds_of_channel_are_refused_clearly() -> None:
    with pytest.raises(UserFacingError, match="Debates can't run in this kind of channel"):
        choose_venue(T.forum, EVERYTHING)
