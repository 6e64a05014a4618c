"""Interactive pieces: confirmation buttons, the persona editing modal and a debate's Stop button.

They answer later than the command that showed them (a modal can be submitted up to 15 minutes on), so
each checks the member again when it is used: a member who lost the right in between changes nothing.
Each answers in the language of the member using it.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands

from bot.core.personas import PRESET_TITLES, Persona
from bot.core.render import CONTENT_LIMIT
from bot.core.text import discord_length, truncate
from bot.core.translation import _
from bot.core.validation import (
    COLOUR_MAX_LENGTH,
    EMOJI_MAX_LENGTH,
    INSTRUCTIONS_MAX_LENGTH,
    MODEL_NAME_MAX_LENGTH,
    NAME_MAX_LENGTH,
    Invalid,
    format_colour,
)
from bot.errors import NotModerator, UserFacingError, describe, report, send_private
from bot.i18n import speak_to

NO_PINGS = discord.AllowedMentions.none()
MODAL_TITLE_LIMIT = 45
PRESET_CHOICES = [
    app_commands.Choice(name=app_commands.locale_str(title[:100]), value=name)
    for name, title in PRESET_TITLES.items()
]
"""The built-in panels as slash-command choices."""

REFUSALS = (Invalid, NotModerator, UserFacingError)
"""What a check or an action raises to refuse, with a message for the member; nothing has changed."""


ConfirmAction = Callable[[], Awaitable[str]]
Check = Callable[[discord.Interaction[Any]], Awaitable[None]]
"""Raises (:class:`NotModerator`…) unless the member behind the interaction may still do this."""


class Confirm(discord.ui.View):
    """Confirm and Cancel buttons, usable only by the member who asked; ``action`` runs on Confirm.

    Confirm runs ``check`` again first. ``action`` returns the message that replaces the question; a
    refusal (:data:`REFUSALS`) from either is shown the same way, and nothing changes.
    """

    def __init__(
        self, owner_id: int, action: ConfirmAction, *, check: Check, confirm_label: str, timeout: float = 120
    ) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self.action = action
        self.check = check
        self.message: discord.InteractionMessage | None = None
        self.confirm.label = confirm_label
        self.cancel.label = _("Cancel")

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        speak_to(interaction)
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            _("These buttons belong to the moderator who ran the command."),
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )
        return False

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.danger)
    async def confirm(
        self, interaction: discord.Interaction[Any], _button: discord.ui.Button[Confirm]
    ) -> None:
        self.stop()
        try:
            await self.check(interaction)
            outcome = await self.action()
        except REFUSALS as refusal:
            outcome = _("Nothing changed: {problem}").format(problem=describe(refusal)[0])
        await interaction.response.edit_message(
            content=truncate(outcome, CONTENT_LIMIT), view=None, allowed_mentions=NO_PINGS
        )

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(
        self, interaction: discord.Interaction[Any], _button: discord.ui.Button[Confirm]
    ) -> None:
        self.stop()
        await interaction.response.edit_message(content=_("Cancelled: nothing changed."), view=None)

    async def on_timeout(self) -> None:
        if self.message is not None:
            with contextlib.suppress(discord.HTTPException):
                await self.message.edit(content=_("Timed out: nothing changed."), view=None)

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, _item: discord.ui.Item[Any]
    ) -> None:
        await report(interaction, error)


PersonaSaver = Callable[[dict[str, str]], Awaitable[str]]


class PersonaModal(discord.ui.Modal):
    """A form pre-filled with a persona; on submit, ``check`` runs again, then ``save`` gets the fields
    and returns the reply. Made in the task of the command that shows it: it speaks that member's
    language."""

    def __init__(self, persona: Persona, save: PersonaSaver, *, check: Check) -> None:
        title = _("Edit {name}").format(name=persona.name)
        super().__init__(title=truncate(title, MODAL_TITLE_LIMIT), timeout=900)
        self.save = save
        self.check = check
        self.fields: dict[str, discord.ui.TextInput[PersonaModal]] = {
            "name": discord.ui.TextInput(label=_("Name"), default=persona.name, max_length=NAME_MAX_LENGTH),
            "emoji": discord.ui.TextInput(
                label=_("Emoji (one emoji)"), default=persona.emoji, max_length=EMOJI_MAX_LENGTH
            ),
            "instructions": discord.ui.TextInput(
                label=_("Instructions"),
                style=discord.TextStyle.paragraph,
                default=persona.instructions,
                min_length=1,
                max_length=INSTRUCTIONS_MAX_LENGTH,
            ),
            "colour": discord.ui.TextInput(
                label=_("Colour (#RRGGBB)"),
                default=format_colour(persona.colour),
                required=False,
                max_length=COLOUR_MAX_LENGTH,
            ),
            "model": discord.ui.TextInput(
                label=_("Model (blank: the server's default)"),
                default=persona.model or "",
                required=False,
                max_length=MODEL_NAME_MAX_LENGTH,
            ),
        }
        for name, field in self.fields.items():
            field.custom_id = f"persona-{name}"
            self.add_item(field)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        speak_to(interaction)  # on_submit runs next, in this same task
        return True

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        submitted = {name: field.value for name, field in self.fields.items()}
        try:
            await self.check(interaction)
            outcome = await self.save(submitted)
        except REFUSALS as refusal:
            await self._refuse(interaction, describe(refusal)[0], submitted["instructions"])
            return
        await send_private(interaction, outcome)

    @staticmethod
    async def _refuse(interaction: discord.Interaction[Any], problem: str, instructions: str) -> None:
        """Say what was wrong, and hand the typed instructions back so that nothing is lost."""
        head = _("Nothing changed:\n{problem}\n\nYour instructions, to paste again:").format(problem=problem)
        inline = f"{head}\n```\n{instructions.replace('```', 'ˋˋˋ')}\n```"
        if discord_length(inline) <= CONTENT_LIMIT:
            await interaction.response.send_message(inline, ephemeral=True, allowed_mentions=NO_PINGS)
            return
        attachment = discord.File(io.BytesIO(instructions.encode()), filename="instructions.txt")
        await interaction.response.send_message(
            truncate(head, CONTENT_LIMIT), file=attachment, ephemeral=True, allowed_mentions=NO_PINGS
        )

    async def on_error(self, interaction: discord.Interaction[Any], error: Exception) -> None:  # type: ignore[override]
        await report(interaction, error)


STOP_TEMPLATE = r"parley:stop:(?P<record>[0-9]+)"
"""The Stop button's custom_id: the debate's record id, so any run of the bot can answer a press."""


class StopButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=STOP_TEMPLATE):
    """The Stop button of a debate's status message. The debate service decides whether the member may
    stop the debate and stops it; a refusal is answered privately, a stop with a silent acknowledgement
    (the status message then says who stopped it). Made in the debate's task, its label speaks the
    debate's language; a press is answered in the presser's."""

    def __init__(self, record: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=_("Stop"),
                emoji="⏹️",
                style=discord.ButtonStyle.danger,
                custom_id=f"parley:stop:{record}",
            )
        )
        self.record = record

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> StopButton:
        return cls(int(match["record"]))

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        speak_to(interaction)  # the callback runs next, in this same task
        return True

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await interaction.client.debates.stop(self.record, by=interaction)
        except Exception as error:  # a refusal or a fault: the member is told privately
            await report(interaction, error)
            return
        await interaction.response.defer()


def stop_controls(record: int) -> discord.ui.View:
    """The components of a running debate's status message: its Stop button."""
    view = discord.ui.View(timeout=None)
    view.add_item(StopButton(record))
    return view
