"""A server's past debates: ``/debates history`` (paged with buttons) and ``/debates transcript``.

Moderators see every debate of their server; members only those asked in channels they can see now,
computed from the guild cache (threads take their parent's permissions; a channel Parley cannot resolve
counts as hidden). The page buttons carry the asker and the page in their custom ids, so a press is
answered by whichever run of the bot receives it, and the visibility is computed again at every press.
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any

import discord
from discord import app_commands

from bot.core.history import (
    PAGE_SIZE,
    HistoryPage,
    clamp_page,
    debate_choice_name,
    history_embed,
)
from bot.core.records import Storage
from bot.core.transcript import transcript_filename, transcript_markdown
from bot.core.translation import N_, _
from bot.errors import UserFacingError, acknowledge_privately, send_private
from bot.moderation import moderates
from bot.ui import PressAnswered

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
SUGGESTIONS = 25
"""Discord shows at most 25 autocomplete choices."""
NOT_YOUR_BUTTONS = N_("These buttons belong to the member who asked for this history.")
NO_SUCH_DEBATE = N_("There is no debate #{id} in this server that you can see.")

Member = discord.Member | discord.User


def can_view_channel(guild: discord.Guild | None, member: Member, channel_id: int) -> bool:
    """Whether ``member`` can see the channel (or thread) ``channel_id`` now, from the guild cache.

    A thread takes its parent's permissions; a private thread also needs Manage Threads (Parley does not
    know who was added to it). A channel not in the cache counts as hidden.
    """
    if guild is None or not isinstance(member, discord.Member):
        return False
    channel = guild.get_channel_or_thread(channel_id)
    if channel is None:
        return False
    if isinstance(channel, discord.Thread):
        parent = channel.parent
        if parent is None:
            return False
        allowed = parent.permissions_for(member)
        if channel.type is discord.ChannelType.private_thread and not allowed.manage_threads:
            return False
        return allowed.view_channel
    return channel.permissions_for(member).view_channel


class HistoryService:
    """Lists a server's debates and hands out their transcripts, to those who may see them."""

    def __init__(self, store: Storage, *, usual_verdict_model: str | None = None) -> None:
        self._store = store
        self._usual_verdict_model = usual_verdict_model

    async def visible_channels(self, interaction: discord.Interaction[Any]) -> set[int] | None:
        """The channels whose debates the member may see: None for every one (a moderator)."""
        assert interaction.guild_id is not None  # the commands are guild-only
        if moderates(interaction, await self._store.settings(interaction.guild_id)):
            return None
        asked_in = await self._store.debate_channels(interaction.guild_id)
        return {
            channel_id
            for channel_id in asked_in
            if can_view_channel(interaction.guild, interaction.user, channel_id)
        }

    async def page(self, interaction: discord.Interaction[Any], number: int) -> HistoryPage:
        """Page ``number`` (from 0, moved into range) of the debates the member may see, newest first."""
        assert interaction.guild_id is not None
        channels = await self.visible_channels(interaction)
        total = await self._store.count_debates(interaction.guild_id, channel_ids=channels)
        number = clamp_page(number, total)
        debates = await self._store.debate_summaries(
            interaction.guild_id, channel_ids=channels, limit=PAGE_SIZE, offset=number * PAGE_SIZE
        )
        return HistoryPage(number, total, debates)

    def _message(self, owner_id: int, page: HistoryPage) -> dict[str, Any]:
        return {
            "embed": discord.Embed.from_dict(dict(history_embed(page, self._usual_verdict_model))),
            "view": page_controls(owner_id, page),
        }

    async def show_history(self, interaction: discord.Interaction[Any]) -> None:
        """Answer ``/debates history`` privately with its first page."""
        await acknowledge_privately(interaction)
        page = await self.page(interaction, 0)
        await interaction.followup.send(
            ephemeral=True, allowed_mentions=NO_PINGS, **self._message(interaction.user.id, page)
        )

    async def turn_page(self, interaction: discord.Interaction[Any], owner_id: int, number: int) -> None:
        """Show page ``number`` in place of the page the buttons were on; only the asker may turn it."""
        if interaction.user.id != owner_id:
            await send_private(interaction, _(NOT_YOUR_BUTTONS))
            return
        page = await self.page(interaction, number)
        await interaction.response.edit_message(allowed_mentions=NO_PINGS, **self._message(owner_id, page))

    async def send_transcript(self, interaction: discord.Interaction[Any], debate_id: int) -> None:
        """Answer ``/debates transcript`` privately with ``debate-<id>.md``, or say there is none to see."""
        assert interaction.guild_id is not None
        await acknowledge_privately(interaction)
        chain = await self._store.debate_chain(debate_id)
        channels = await self.visible_channels(interaction)
        if (
            not chain
            or chain[-1].summary.guild_id != interaction.guild_id
            or (channels is not None and chain[-1].summary.channel_id not in channels)
        ):
            raise UserFacingError(_(NO_SUCH_DEBATE).format(id=debate_id))
        askers = {}
        for part in chain:
            member = interaction.guild.get_member(part.summary.user_id) if interaction.guild else None
            if member is not None:
                askers[member.id] = member.display_name
        document = transcript_markdown(
            chain[-1], usual_verdict_model=self._usual_verdict_model, earlier=chain[:-1], askers=askers
        )
        file = discord.File(io.BytesIO(document.encode()), filename=transcript_filename(debate_id))
        reply = _("The transcript of debate #{id}.").format(id=debate_id)
        await send_private(interaction, reply, files=[file])

    async def suggest_debates(
        self, interaction: discord.Interaction[Any], typed: str
    ) -> list[app_commands.Choice[int]]:
        """The newest debates the member may see whose question (or id) matches what they typed."""
        assert interaction.guild_id is not None
        channels = await self.visible_channels(interaction)
        debates = await self._store.debate_summaries(
            interaction.guild_id, channel_ids=channels, limit=SUGGESTIONS, matching=typed
        )
        return [app_commands.Choice(name=debate_choice_name(debate), value=debate.id) for debate in debates]


HISTORY_TEMPLATE = r"parley:history:(?P<owner>[0-9]+):(?P<page>[0-9]+)"
"""A page button's custom_id: who asked, and the page (from 0) it opens."""


class HistoryPageButton(
    PressAnswered, discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=HISTORY_TEMPLATE
):
    """Previous or Next on a history page: opens page ``page`` for the member ``owner``, in the language
    of the member pressing it."""

    def __init__(self, owner: int, page: int, *, label: str = "", disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label=label or _("Next"),
                style=discord.ButtonStyle.secondary,
                custom_id=f"parley:history:{owner}:{page}",
                disabled=disabled,
            )
        )
        self.owner = owner
        self.page = page

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> HistoryPageButton:
        return cls(int(match["owner"]), int(match["page"]))

    async def act(self, interaction: discord.Interaction[Any]) -> None:
        service: HistoryService = interaction.client.history
        await service.turn_page(interaction, self.owner, self.page)


def page_controls(owner_id: int, page: HistoryPage) -> discord.ui.View:
    """Previous and Next under a history page (each disabled where there is no page to go to)."""
    view = discord.ui.View(timeout=None)
    view.add_item(
        HistoryPageButton(
            owner_id, max(0, page.number - 1), label=_("Previous"), disabled=not page.has_previous
        )
    )
    view.add_item(HistoryPageButton(owner_id, page.number + 1, label=_("Next"), disabled=not page.has_next))
    return view
