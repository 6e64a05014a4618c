"""``/parley``: server settings for moderators (the moderator role, the audit log)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import ParleyBot
from bot.core.render import audit_embed
from bot.moderation import ModeratorGroup

NO_PINGS = discord.AllowedMentions.none()
AUDIT_ENTRIES = 15


class ParleyCog(commands.Cog):
    """The ``/parley`` settings group."""

    parley = ModeratorGroup(name="parley", description="Parley's settings for this server (moderators)")

    def __init__(self, bot: ParleyBot) -> None:
        self.bot = bot

    @parley.command(name="moderator-role", description="Set or clear the role that may manage Parley here")
    @app_commands.describe(role="Members with this role manage the panel; leave it out to clear the role")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def moderator_role(
        self, interaction: discord.Interaction[ParleyBot], role: discord.Role | None = None
    ) -> None:
        assert interaction.guild_id is not None  # the group is guild-only
        await self.bot.store.set_moderator_role(
            interaction.guild_id, interaction.user.id, role.id if role else None
        )
        if role is None:
            message = "Cleared the moderator role: only members with **Manage Server** manage Parley now."
        else:
            message = f"Members with {role.mention} can now manage Parley's panel and settings here."
        await interaction.response.send_message(message, ephemeral=True, allowed_mentions=NO_PINGS)

    @parley.command(name="audit", description="Show the latest changes to this server's panel and settings")
    async def audit(self, interaction: discord.Interaction[ParleyBot]) -> None:
        assert interaction.guild_id is not None
        entries = await self.bot.store.audit_log(interaction.guild_id, limit=AUDIT_ENTRIES)
        embed = discord.Embed.from_dict(dict(audit_embed(entries)))
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_PINGS)


async def setup(bot: ParleyBot) -> None:
    await bot.add_cog(ParleyCog(bot))
