"""``/panel`` for everyone, and the ``/persona`` group with which moderators shape their server's panel."""

from __future__ import annotations

import functools
import io

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import ParleyBot
from bot.core.panel import (
    EXPORT_MAX_BYTES,
    Panel,
    PanelChange,
    StoredPanel,
    export_panel,
    find,
    free_colour,
    import_panel,
    with_added,
    with_replaced,
    without,
)
from bot.core.personas import PRESETS
from bot.core.render import panel_embed
from bot.core.validation import INSTRUCTIONS_MAX_LENGTH, NAME_MAX_LENGTH, Invalid, make_persona
from bot.errors import UserFacingError
from bot.moderation import ModeratorGroup
from bot.ui import PRESET_CHOICES, Confirm, ConfirmAction, PersonaModal

NO_PINGS = discord.AllowedMentions.none()


def _guild(interaction: discord.Interaction[ParleyBot]) -> int:
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    return interaction.guild_id


def _backup(guild_id: int, panel: StoredPanel) -> list[discord.File]:
    """The replaced panel as an export file, so that a custom panel is never lost by a replacement."""
    if panel.is_default:
        return []
    return [
        discord.File(
            io.BytesIO(export_panel(panel.personas)), filename=f"parley-panel-{guild_id}-previous.json"
        )
    ]


class PersonasCog(commands.Cog):
    """The panel commands."""

    persona = ModeratorGroup(name="persona", description="Manage this server's debate panel (moderators)")

    def __init__(self, bot: ParleyBot) -> None:
        self.bot = bot

    async def _panel(self, interaction: discord.Interaction[ParleyBot]) -> StoredPanel:
        return await self.bot.store.panel(_guild(interaction))

    async def _change(
        self, interaction: discord.Interaction[ParleyBot], action: str, change: PanelChange, summary: str
    ) -> tuple[StoredPanel, StoredPanel]:
        return await self.bot.store.change_panel(
            _guild(interaction), interaction.user.id, action, change, summary
        )

    # -- anyone -----------------------------------------------------------------------------------

    @app_commands.command(name="panel", description="Show this server's debate panel")
    @app_commands.guild_only()
    async def panel(self, interaction: discord.Interaction[ParleyBot]) -> None:
        stored = await self._panel(interaction)
        embed = discord.Embed.from_dict(dict(panel_embed(stored.personas, stored.is_default)))
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_PINGS)

    # -- autocomplete ------------------------------------------------------------------------------

    async def _names(
        self, interaction: discord.Interaction[ParleyBot], current: str
    ) -> list[app_commands.Choice[str]]:
        personas = (await self._panel(interaction)).personas
        typed = current.strip().casefold()
        return [
            app_commands.Choice(name=persona.label[:100], value=persona.name)
            for persona in personas
            if typed in persona.name.casefold()
        ][:25]

    async def _models(
        self, _interaction: discord.Interaction[ParleyBot], current: str
    ) -> list[app_commands.Choice[str]]:
        typed = current.strip().casefold()
        return [
            app_commands.Choice(name=model, value=model)
            for model in self.bot.settings.allowed_models
            if typed in model.casefold()
        ][:25]

    # -- moderators ---------------------------------------------------------------------------------

    @persona.command(name="add", description="Add a persona to this server's panel")
    @app_commands.describe(
        name="Display name, e.g. Judge (1–64 characters)",
        emoji="One emoji, e.g. ⚖️, or a server emoji",
        instructions="Who this persona is and how it argues (10–2000 characters)",
        colour="Embed colour as #RRGGBB (optional)",
        model="Gemini model for this persona (optional; default: the server's)",
    )
    @app_commands.autocomplete(model=_models)
    async def add(
        self,
        interaction: discord.Interaction[ParleyBot],
        name: app_commands.Range[str, 1, NAME_MAX_LENGTH],
        emoji: app_commands.Range[str, 1, 100],
        instructions: app_commands.Range[str, 1, INSTRUCTIONS_MAX_LENGTH],
        colour: app_commands.Range[str, 1, 7] | None = None,
        model: str | None = None,
    ) -> None:
        current = await self._panel(interaction)
        persona = make_persona(
            name=name,
            emoji=emoji,
            instructions=instructions,
            colour=colour,
            model=model,
            allowed_models=self.bot.settings.allowed_models,
            default_colour=free_colour(current.personas),
        )
        _before, after = await self._change(
            interaction, "add", functools.partial(with_added, persona=persona), f"added {persona.label}"
        )
        await interaction.response.send_message(
            f"Added **{persona.label}**. The panel now has {len(after.personas)} personas.",
            embed=discord.Embed.from_dict(dict(panel_embed(after.personas, after.is_default))),
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )

    @persona.command(name="edit", description="Edit a persona in a form pre-filled with its current values")
    @app_commands.describe(name="The persona to edit")
    @app_commands.autocomplete(name=_names)
    async def edit(self, interaction: discord.Interaction[ParleyBot], name: str) -> None:
        current = await self._panel(interaction)
        persona = find(current.personas, name)
        if persona is None:
            raise UserFacingError(f"There is no persona called {name.strip()!r} on this panel.")
        guild_id, actor_id = _guild(interaction), interaction.user.id

        async def save(fields: dict[str, str]) -> str:
            edited = make_persona(
                **fields, allowed_models=self.bot.settings.allowed_models, default_colour=persona.colour
            )
            changed = [
                field
                for field in ("name", "emoji", "instructions", "colour", "model")
                if getattr(edited, field) != getattr(persona, field)
            ]
            if not changed:
                return f"Nothing changed: **{persona.label}** already looks like that."
            await self.bot.store.change_panel(
                guild_id,
                actor_id,
                "edit",
                functools.partial(with_replaced, name=persona.name, persona=edited),
                f"edited {edited.label} ({', '.join(changed)})",
            )
            return f"Saved **{edited.label}** ({', '.join(changed)} changed)."

        await interaction.response.send_modal(PersonaModal(persona, save))

    @persona.command(name="remove", description="Remove a persona from this server's panel")
    @app_commands.describe(name="The persona to remove")
    @app_commands.autocomplete(name=_names)
    async def remove(self, interaction: discord.Interaction[ParleyBot], name: str) -> None:
        current = await self._panel(interaction)
        without(current.personas, name)  # refuse now, before asking, if it cannot be done
        persona = find(current.personas, name)
        assert persona is not None

        async def confirmed() -> str:
            await self._change(
                interaction,
                "remove",
                functools.partial(without, name=persona.name),
                f"removed {persona.label}",
            )
            return f"Removed **{persona.label}**."

        await self._ask(
            interaction, f"Remove **{persona.label}** from this server's panel?", "Remove", confirmed
        )

    @persona.command(name="reset", description="Go back to the default panel")
    async def reset(self, interaction: discord.Interaction[ParleyBot]) -> None:
        guild_id, actor_id = _guild(interaction), interaction.user.id

        async def confirmed() -> str:
            await self.bot.store.reset_panel(guild_id, actor_id)
            return "The panel is back to the default one (export it first next time if you want to keep it)."

        question = "Replace this server's panel with the default one? Export it first if you want to keep it."
        await self._ask(interaction, question, "Reset", confirmed)

    async def _ask(
        self, interaction: discord.Interaction[ParleyBot], question: str, label: str, action: ConfirmAction
    ) -> None:
        view = Confirm(interaction.user.id, action, confirm_label=label)
        await interaction.response.send_message(
            question, view=view, ephemeral=True, allowed_mentions=NO_PINGS
        )
        view.message = await interaction.original_response()

    @persona.command(name="preset", description="Replace the panel with a built-in one")
    @app_commands.describe(name="The built-in panel")
    @app_commands.choices(name=PRESET_CHOICES)
    async def preset(
        self, interaction: discord.Interaction[ParleyBot], name: app_commands.Choice[str]
    ) -> None:
        panel = PRESETS[name.value]
        before, _after = await self._change(
            interaction, "preset", lambda _panel: panel, f"applied preset {name.value}"
        )
        await self._replaced(interaction, before, panel, f"Applied the **{name.value}** panel.")

    @persona.command(name="export", description="Download this server's panel as a JSON file")
    async def export(self, interaction: discord.Interaction[ParleyBot]) -> None:
        stored = await self._panel(interaction)
        file = discord.File(
            io.BytesIO(export_panel(stored.personas)), filename=f"parley-panel-{_guild(interaction)}.json"
        )
        await interaction.response.send_message(
            f"This server's panel ({len(stored.personas)} personas). "
            "Edit the file and bring it back with `/persona import`.",
            file=file,
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )

    @persona.command(
        name="import", description="Replace the panel with one from a JSON file (see /persona export)"
    )
    @app_commands.describe(file="A panel file, as /persona export makes them (at most 64 KiB)")
    async def import_(self, interaction: discord.Interaction[ParleyBot], file: discord.Attachment) -> None:
        if file.size > EXPORT_MAX_BYTES:
            raise Invalid(
                f"The file is {file.size / 1024:.0f} KiB; the limit is {EXPORT_MAX_BYTES // 1024} KiB."
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        panel = import_panel(await file.read(), self.bot.settings.allowed_models)
        before, _after = await self._change(
            interaction, "import", lambda _panel: panel, f"imported {len(panel)} personas"
        )
        await self._replaced(
            interaction, before, panel, f"Imported {len(panel)} personas from `{file.filename}`."
        )

    async def _replaced(
        self, interaction: discord.Interaction[ParleyBot], before: StoredPanel, panel: Panel, headline: str
    ) -> None:
        """Confirm a whole-panel replacement, handing back the replaced custom panel as a file."""
        backup = _backup(_guild(interaction), before)
        note = " The previous panel is attached, should you want it back." if backup else ""
        embed = discord.Embed.from_dict(dict(panel_embed(panel, is_default=False)))
        if interaction.response.is_done():
            await interaction.followup.send(
                headline + note, embed=embed, files=backup, ephemeral=True, allowed_mentions=NO_PINGS
            )
        else:
            await interaction.response.send_message(
                headline + note, embed=embed, files=backup, ephemeral=True, allowed_mentions=NO_PINGS
            )


async def setup(bot: ParleyBot) -> None:
    await bot.add_cog(PersonasCog(bot))
