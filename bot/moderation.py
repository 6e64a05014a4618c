"""Who may manage a server's panel and settings: Manage Server, or the server's moderator role."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.core.panel import GuildSettings, PanelStore
from bot.errors import NotModerator

__all__ = ["ModeratorGroup", "NotModerator", "moderates", "require_moderator"]


def moderates(interaction: discord.Interaction[Any], settings: GuildSettings) -> bool:
    """Whether the member has Manage Server here, or the server's moderator role."""
    if interaction.permissions.manage_guild:
        return True
    roles = getattr(interaction.user, "roles", [])
    return settings.moderator_role_id is not None and any(
        role.id == settings.moderator_role_id for role in roles
    )


async def require_moderator(interaction: discord.Interaction[Any]) -> None:
    """Raise :class:`NotModerator` unless the member may manage this server's panel."""
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    if interaction.permissions.manage_guild:
        return
    store: PanelStore = interaction.client.store
    settings = await store.settings(interaction.guild_id)
    if not moderates(interaction, settings):
        raise NotModerator(settings.moderator_role_id)


class ModeratorGroup(app_commands.Group):
    """A command group for moderators: hidden from others by default, and checked at every use.

    ``default_permissions`` only hides the commands (a server can show them to anyone), so each
    invocation is checked here as well.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            guild_only=True,
            allowed_contexts=app_commands.AppCommandContext(
                guild=True, dm_channel=False, private_channel=False
            ),
            default_permissions=discord.Permissions(manage_guild=True),
            **kwargs,
        )

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        await require_moderator(interaction)
        return True
