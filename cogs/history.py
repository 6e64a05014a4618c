"""``/debates``: a server's past debates (``history``) and one debate's Markdown file (``transcript``)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.client import ParleyBot
from bot.history import HistoryPageButton


class HistoryCog(commands.Cog):
    """The ``/debates`` group; the history service does the work."""

    debates = app_commands.Group(
        name=locale_str("debates"),
        description=locale_str("This server's past debates"),
        guild_only=True,
        allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=False, private_channel=False),
    )

    def __init__(self, bot: ParleyBot) -> None:
        self.bot = bot

    @debates.command(
        name=locale_str("history"), description=locale_str("This server's recent debates, newest first")
    )
    async def history(self, interaction: discord.Interaction[ParleyBot]) -> None:
        await self.bot.history.show_history(interaction)

    @debates.command(name=locale_str("transcript"), description=locale_str("One debate as a Markdown file"))
    @app_commands.rename(debate=locale_str("debate"))
    @app_commands.describe(debate=locale_str("The debate: start typing its question, or give its number"))
    async def transcript(
        self, interaction: discord.Interaction[ParleyBot], debate: app_commands.Range[int, 1]
    ) -> None:
        await self.bot.history.send_transcript(interaction, debate)

    @transcript.autocomplete("debate")
    async def suggest_debates(
        self, interaction: discord.Interaction[ParleyBot], current: str
    ) -> list[app_commands.Choice[int]]:
        return await self.bot.history.suggest_debates(interaction, current)


async def setup(bot: ParleyBot) -> None:
    bot.add_dynamic_items(HistoryPageButton)  # a page turns whichever run of the bot showed it
    await bot.add_cog(HistoryCog(bot))
