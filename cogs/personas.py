"""``/panel`` for everyone, and the ``/persona`` group with which moderators shape their server's panel.

Every subcommand that writes acknowledges the interaction first (privately), so that a slow database never
lets it expire; ``edit`` answers with a form and ``remove``/``reset`` with buttons, which check again.
"""

from __future__ import annotations

import dataclasses
import io

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.client import ParleyBot
from bot.core.panel import (
    EXPORT_MAX_BYTES,
    Panel,
    PanelChange,
    StoredPanel,
    export_panel,
    file_too_large,
    find,
    free_colour,
    import_panel,
    with_added,
    with_grounding,
    with_replaced,
    without,
)
from bot.core.personas import PRESETS
from bot.core.render import CONTENT_LIMIT, panel_embed
from bot.core.text import one_line, quoted, truncate
from bot.core.translation import N_, _, ngettext
from bot.core.validation import (
    COLOUR_MAX_LENGTH,
    EMOJI_MAX_LENGTH,
    INSTRUCTIONS_MAX_LENGTH,
    MODEL_NAME_MAX_LENGTH,
    NAME_MAX_LENGTH,
    Invalid,
    make_persona,
)
from bot.errors import UserFacingError, acknowledge_privately, send_private
from bot.moderation import ModeratorGroup, require_moderator
from bot.ui import PRESET_CHOICES, Confirm, ConfirmAction, PersonaModal

NO_PINGS = discord.AllowedMentions.none()
FILENAME_SHOWN = 60
"""Characters of an uploaded file's name that a reply repeats."""

PersonaName = app_commands.Range[str, 1, NAME_MAX_LENGTH]


FIELD_NAMES = {
    "name": N_("name"),
    "emoji": N_("emoji"),
    "instructions": N_("instructions"),
    "colour": N_("colour"),
    "model": N_("model"),
}
"""A persona's fields as a reply lists those an edit changed."""


def no_such_persona(name: str) -> str:
    return _("There is no persona called {name} on this panel.").format(name=quoted(name.strip()))


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


def _panel_embed(panel: Panel, is_default: bool) -> discord.Embed:
    return discord.Embed.from_dict(dict(panel_embed(panel, is_default)))


class PersonasCog(commands.Cog):
    """The panel commands."""

    persona = ModeratorGroup(
        name=locale_str("persona"), description=locale_str("Manage this server's debate panel (moderators)")
    )

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

    @app_commands.command(name=locale_str("panel"), description=locale_str("Show this server's debate panel"))
    @app_commands.guild_only()
    async def panel(self, interaction: discord.Interaction[ParleyBot]) -> None:
        stored = await self._panel(interaction)
        await send_private(interaction, embed=_panel_embed(stored.personas, stored.is_default))

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

    @persona.command(name=locale_str("add"), description=locale_str("Add a persona to this server's panel"))
    @app_commands.rename(
        name=locale_str("name"),
        emoji=locale_str("emoji"),
        instructions=locale_str("instructions"),
        colour=locale_str("colour"),
        model=locale_str("model"),
        grounded=locale_str("grounded"),
    )
    @app_commands.describe(
        name=locale_str(f"Display name, e.g. Judge (1–{NAME_MAX_LENGTH} characters)"),
        emoji=locale_str("One emoji, e.g. ⚖️, or a server emoji"),
        instructions=locale_str(
            f"Who this persona is and how it argues (10–{INSTRUCTIONS_MAX_LENGTH} characters)"
        ),
        colour=locale_str("Embed colour as #RRGGBB (optional)"),
        model=locale_str("Gemini model for this persona (optional; default: the server's)"),
        grounded=locale_str("Answer with Google Search and list the sources used (optional; default: off)"),
    )
    @app_commands.autocomplete(model=_models)
    async def add(
        self,
        interaction: discord.Interaction[ParleyBot],
        name: PersonaName,
        emoji: app_commands.Range[str, 1, EMOJI_MAX_LENGTH],
        instructions: app_commands.Range[str, 1, INSTRUCTIONS_MAX_LENGTH],
        colour: app_commands.Range[str, 1, COLOUR_MAX_LENGTH] | None = None,
        model: app_commands.Range[str, 1, MODEL_NAME_MAX_LENGTH] | None = None,
        grounded: bool = False,
    ) -> None:
        # The fields are checked before anything else; a persona without a colour gets one no persona
        # on the panel uses, chosen from the panel as it is when the change is applied.
        persona = make_persona(
            name=name,
            emoji=emoji,
            instructions=instructions,
            colour=colour,
            model=model,
            allowed_models=self.bot.settings.allowed_models,
            default_colour=0,
            grounded=grounded,
        )
        coloured = colour is not None and bool(colour.strip())

        def add_to(panel: Panel) -> Panel:
            added = persona if coloured else dataclasses.replace(persona, colour=free_colour(panel))
            return with_added(panel, added)

        await acknowledge_privately(interaction)
        summary = f"added {persona.label}" + (" (grounded)" if grounded else "")
        _before, after = await self._change(interaction, "add", add_to, summary)
        count = len(after.personas)
        reply = ngettext(
            "Added **{persona}**. The panel now has {count} persona.",
            "Added **{persona}**. The panel now has {count} personas.",
            count,
        ).format(persona=persona.label, count=count)
        await send_private(interaction, reply, embed=_panel_embed(after.personas, after.is_default))

    @persona.command(
        name=locale_str("edit"),
        description=locale_str("Edit a persona in a form pre-filled with its current values"),
    )
    @app_commands.rename(name=locale_str("name"))
    @app_commands.describe(name=locale_str("The persona to edit"))
    @app_commands.autocomplete(name=_names)
    async def edit(self, interaction: discord.Interaction[ParleyBot], name: PersonaName) -> None:
        current = await self._panel(interaction)
        persona = find(current.personas, name)
        if persona is None:
            raise UserFacingError(no_such_persona(name))
        guild_id, actor_id = _guild(interaction), interaction.user.id

        async def save(fields: dict[str, str]) -> str:
            edited = make_persona(
                **fields,
                allowed_models=self.bot.settings.allowed_models,
                default_colour=persona.colour,
                grounded=persona.grounded,  # the form has no room for it: /persona grounded sets it
            )
            changed = [
                field
                for field in ("name", "emoji", "instructions", "colour", "model")
                if getattr(edited, field) != getattr(persona, field)
            ]
            if not changed:
                return _("Nothing changed: **{persona}** already looks like that.").format(
                    persona=persona.label
                )
            await self.bot.store.change_panel(
                guild_id,
                actor_id,
                "edit",
                lambda panel: with_replaced(panel, name=persona.name, persona=edited),
                f"edited {edited.label} ({', '.join(changed)})",
            )
            names = ", ".join(_(FIELD_NAMES[field]) for field in changed)
            return _("Saved **{persona}** ({fields} changed).").format(persona=edited.label, fields=names)

        # A modal must be the first response; it checks the member again when it is submitted.
        await interaction.response.send_modal(PersonaModal(persona, save, check=require_moderator))

    @persona.command(
        name=locale_str("grounded"),
        description=locale_str("Turn Google Search grounding on or off for a persona (shows sources)"),
    )
    @app_commands.rename(name=locale_str("name"), on=locale_str("on"))
    @app_commands.describe(
        name=locale_str("The persona"),
        on=locale_str("On: it answers with Google Search and lists its sources"),
    )
    @app_commands.autocomplete(name=_names)
    async def grounded(
        self, interaction: discord.Interaction[ParleyBot], name: PersonaName, on: bool
    ) -> None:
        current = await self._panel(interaction)
        persona = find(current.personas, name)
        if persona is None:
            raise UserFacingError(no_such_persona(name))
        state = "on" if on else "off"
        if persona.grounded == on:
            already = (
                _("Nothing changed: grounding is already on for **{persona}**.")
                if on
                else _("Nothing changed: grounding is already off for **{persona}**.")
            )
            await send_private(interaction, already.format(persona=persona.label))
            return
        await acknowledge_privately(interaction)
        await self._change(
            interaction,
            "grounded",
            lambda panel: with_grounding(panel, persona.name, on),
            f"turned grounding {state} for {persona.label}",
        )
        reply = (
            _(
                "Grounding is on for **{persona}**: it now answers with Google Search and lists the sources "
                "it used."
            )
            if on
            else _("Grounding is off for **{persona}**: it answers from the model's own knowledge again.")
        )
        await send_private(interaction, reply.format(persona=persona.label))

    @persona.command(
        name=locale_str("remove"), description=locale_str("Remove a persona from this server's panel")
    )
    @app_commands.rename(name=locale_str("name"))
    @app_commands.describe(name=locale_str("The persona to remove"))
    @app_commands.autocomplete(name=_names)
    async def remove(self, interaction: discord.Interaction[ParleyBot], name: PersonaName) -> None:
        current = await self._panel(interaction)
        without(current.personas, name)  # refuse now, before asking, if it cannot be done
        persona = find(current.personas, name)
        assert persona is not None

        async def confirmed() -> str:
            await self._change(
                interaction, "remove", lambda panel: without(panel, persona.name), f"removed {persona.label}"
            )
            return _("Removed **{persona}**.").format(persona=persona.label)

        question = _("Remove **{persona}** from this server's panel?").format(persona=persona.label)
        await self._ask(interaction, question, _("Remove"), confirmed)

    @persona.command(name=locale_str("reset"), description=locale_str("Go back to the default panel"))
    async def reset(self, interaction: discord.Interaction[ParleyBot]) -> None:
        guild_id, actor_id = _guild(interaction), interaction.user.id

        async def confirmed() -> str:
            await self.bot.store.reset_panel(guild_id, actor_id)
            return _(
                "The panel is back to the default one (export it first next time if you want to keep it)."
            )

        question = _(
            "Replace this server's panel with the default one? Export it first if you want to keep it."
        )
        await self._ask(interaction, question, _("Reset"), confirmed)

    async def _ask(
        self, interaction: discord.Interaction[ParleyBot], question: str, label: str, action: ConfirmAction
    ) -> None:
        """Ask with Confirm and Cancel; Confirm checks the member again before ``action`` writes."""
        view = Confirm(interaction.user.id, action, check=require_moderator, confirm_label=label)
        await interaction.response.send_message(
            truncate(question, CONTENT_LIMIT), view=view, ephemeral=True, allowed_mentions=NO_PINGS
        )
        view.message = await interaction.original_response()

    @persona.command(
        name=locale_str("preset"), description=locale_str("Replace the panel with a built-in one")
    )
    @app_commands.rename(name=locale_str("name"))
    @app_commands.describe(name=locale_str("The built-in panel"))
    @app_commands.choices(name=PRESET_CHOICES)
    async def preset(
        self, interaction: discord.Interaction[ParleyBot], name: app_commands.Choice[str]
    ) -> None:
        panel = PRESETS[name.value]
        await acknowledge_privately(interaction)
        before, _after = await self._change(
            interaction, "preset", lambda _panel: panel, f"applied preset {name.value}"
        )
        await self._replaced(
            interaction, before, panel, _("Applied the **{preset}** panel.").format(preset=name.value)
        )

    @persona.command(
        name=locale_str("export"), description=locale_str("Download this server's panel as a JSON file")
    )
    async def export(self, interaction: discord.Interaction[ParleyBot]) -> None:
        stored = await self._panel(interaction)
        file = discord.File(
            io.BytesIO(export_panel(stored.personas)), filename=f"parley-panel-{_guild(interaction)}.json"
        )
        count = len(stored.personas)
        reply = ngettext(
            "This server's panel ({count} persona). Edit the file and bring it back with `/persona import`.",
            "This server's panel ({count} personas). Edit the file and bring it back with `/persona import`.",
            count,
        ).format(count=count)
        await send_private(interaction, reply, files=[file])

    @persona.command(
        name=locale_str("import"),
        description=locale_str("Replace the panel with one from a JSON file (see /persona export)"),
    )
    @app_commands.rename(file=locale_str("file"))
    @app_commands.describe(file=locale_str("A panel file, as /persona export makes them (at most 64 KiB)"))
    async def import_(self, interaction: discord.Interaction[ParleyBot], file: discord.Attachment) -> None:
        if file.size > EXPORT_MAX_BYTES:
            raise Invalid(file_too_large(file.size))
        await acknowledge_privately(interaction)
        panel = import_panel(await file.read(), self.bot.settings.allowed_models)
        before, _after = await self._change(
            interaction, "import", lambda _panel: panel, f"imported {len(panel)} personas"
        )
        shown = truncate(one_line(file.filename).replace("`", "'"), FILENAME_SHOWN)
        headline = ngettext(
            "Imported {count} persona from {file}.", "Imported {count} personas from {file}.", len(panel)
        ).format(count=len(panel), file=f"`{shown}`")
        await self._replaced(interaction, before, panel, headline)

    async def _replaced(
        self, interaction: discord.Interaction[ParleyBot], before: StoredPanel, panel: Panel, headline: str
    ) -> None:
        """Confirm a whole-panel replacement, handing back the replaced custom panel as a file."""
        backup = _backup(_guild(interaction), before)
        note = " " + _("The previous panel is attached, should you want it back.") if backup else ""
        await send_private(
            interaction, headline + note, embed=_panel_embed(panel, is_default=False), files=backup
        )


async def setup(bot: ParleyBot) -> None:
    await bot.add_cog(PersonasCog(bot))
