"""``/debate``: parse the interaction and hand it to the debate service."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.client import ParleyBot
from bot.core.validation import MAX_ROUNDS, QUESTION_MAX_LENGTH
from bot.ui import PRESET_CHOICES


class DebateCog(commands.Cog):
    """The ``/debate`` command."""

    def __init__(self, bot: ParleyBot) -> None:
        self.bot = bot

    @app_commands.command(
        name=locale_str("debate"),
        description=locale_str("Ask the panel: every persona answers at once, then a verdict."),
    )
    @app_commands.rename(
        question=locale_str("question"), preset=locale_str("preset"), rounds=locale_str("rounds")
    )
    @app_commands.describe(
        question=locale_str(f"What should the panel debate? (up to {QUESTION_MAX_LENGTH} characters)"),
        preset=locale_str("Debate with a built-in panel instead of this server's"),
        rounds=locale_str(
            f"Rounds of debate: from round 2 each persona reads the others and rebuts (1 to {MAX_ROUNDS})"
        ),
    )
    @app_commands.choices(preset=PRESET_CHOICES)
    @app_commands.guild_only()
    async def debate(
        self,
        interaction: discord.Interaction[ParleyBot],
        question: app_commands.Range[str, 1, QUESTION_MAX_LENGTH],
        preset: app_commands.Choice[str] | None = None,
        rounds: app_commands.Range[int, 1, MAX_ROUNDS] = 1,
    ) -> None:
        await self.bot.debates.run(
            interaction, question, preset.value if preset is not None else None, rounds
        )


async def setup(bot: ParleyBot) -> None:
    await bot.add_cog(DebateCog(bot))
