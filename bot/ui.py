"""Interactive pieces: confirmation buttons, the persona editing modal, a debate's Stop button and the
controls under its verdict (vote buttons, Transcript).

They answer later than the command that showed them (a modal can be submitted up to 15 minutes on), so
each checks the member again when it is used: a member who lost the right in between changes nothing.
Each answers in the language of the member using it.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import discord
from discord import app_commands

from bot.core.crowd import vote_button_label
from bot.core.limits import Refused
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
    QUESTION_MAX_LENGTH,
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


async def hand_back(interaction: discord.Interaction[Any], head: str, typed: str, filename: str) -> None:
    """Answer privately with ``head`` and the text the member ``typed``, to paste again: in a code block,
    or as the file ``filename`` when that would not fit."""
    inline = f"{head}\n```\n{typed.replace('```', 'ˋˋˋ')}\n```"
    if discord_length(inline) <= CONTENT_LIMIT:
        await interaction.response.send_message(inline, ephemeral=True, allowed_mentions=NO_PINGS)
        return
    attachment = discord.File(io.BytesIO(typed.encode()), filename=filename)
    await interaction.response.send_message(
        truncate(head, CONTENT_LIMIT), file=attachment, ephemeral=True, allowed_mentions=NO_PINGS
    )


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
        await hand_back(interaction, head, instructions, "instructions.txt")

    async def on_error(self, interaction: discord.Interaction[Any], error: Exception) -> None:  # type: ignore[override]
        await report(interaction, error)


class PressAnswered:
    """What every button of Parley's answered by id alike does on a press: it speaks the presser's
    language (:meth:`interaction_check` runs first, in the callback's task), then runs :meth:`act`, whose
    refusals and faults are told to the member privately. Put it before ``DynamicItem`` in the bases."""

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        speak_to(interaction)
        return True

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self.act(interaction)
        except Exception as error:  # a refusal or a fault: the member is told privately
            await report(interaction, error)

    async def act(self, interaction: discord.Interaction[Any]) -> None:
        """What the press does."""
        raise NotImplementedError


STOP_TEMPLATE = r"parley:stop:(?P<record>[0-9]+)"
"""The Stop button's custom_id: the debate's record id, so any run of the bot can answer a press."""


class StopButton(
    PressAnswered, discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=STOP_TEMPLATE
):
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

    async def act(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.client.debates.stop(self.record, by=interaction)
        await interaction.response.defer()


def stop_controls(record: int) -> discord.ui.View:
    """The components of a running debate's status message: its Stop button."""
    view = discord.ui.View(timeout=None)
    view.add_item(StopButton(record))
    return view


VERDICT_ACTIONS_ROW = 2
"""Rows 0 and 1 of a verdict's components hold one vote button per persona (a panel has at most ten);
row 2 the actions on the whole debate."""


TRANSCRIPT_TEMPLATE = r"parley:transcript:(?P<record>[0-9]+)"
"""The Transcript button's custom_id: the debate's record id."""


class TranscriptButton(
    PressAnswered, discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=TRANSCRIPT_TEMPLATE
):
    """The Transcript button under a verdict: the debate as a Markdown file, sent privately to the member
    who pressed it (when they may see the debate, as with ``/debates transcript``)."""

    def __init__(self, record: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=_("Transcript"),
                emoji="📜",
                style=discord.ButtonStyle.secondary,
                custom_id=f"parley:transcript:{record}",
                row=VERDICT_ACTIONS_ROW,
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
    ) -> TranscriptButton:
        return cls(int(match["record"]))

    async def act(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.client.history.send_transcript(interaction, self.record)


ROUND_TEMPLATE = r"parley:round:(?P<record>[0-9]+)"
"""The Another round button's custom_id: the debate's record id."""


class AnotherRoundButton(
    PressAnswered, discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=ROUND_TEMPLATE
):
    """Another round under a verdict: the same panel rebuts once more in the same thread, then a new
    verdict. The continuation service decides whether it may run; a refusal is answered privately."""

    def __init__(self, record: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=_("Another round"),
                emoji="🔁",
                style=discord.ButtonStyle.secondary,
                custom_id=f"parley:round:{record}",
                row=VERDICT_ACTIONS_ROW,
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
    ) -> AnotherRoundButton:
        return cls(int(match["record"]))

    async def act(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.client.continuations.another_round(interaction, self.record)


VOTES_PER_ROW = 5
"""Buttons in one row (Discord's limit): a panel of ten fills rows 0 and 1."""
VOTE_TEMPLATE = r"parley:vote:(?P<record>[0-9]+):(?P<position>[0-9]+)"
"""A vote button's custom_id: the debate's record id and the persona's place in its panel."""


class VoteButton(
    PressAnswered, discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=VOTE_TEMPLATE
):
    """One persona's button under a verdict: a press is the member's vote for it as the most convincing
    (one vote each; pressing another persona changes it). The vote service records it, answers privately
    and refreshes the crowd's fields of the verdict."""

    def __init__(self, record: int, position: int, label: str = "") -> None:
        super().__init__(
            discord.ui.Button(
                label=label or str(position + 1),
                style=discord.ButtonStyle.secondary,
                custom_id=f"parley:vote:{record}:{position}",
                row=position // VOTES_PER_ROW,
            )
        )
        self.record = record
        self.position = position

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> VoteButton:
        label = item.label if isinstance(item, discord.ui.Button) else None
        return cls(int(match["record"]), int(match["position"]), label or "")

    async def act(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.client.votes.vote(interaction, self.record, self.position)


FOLLOW_UP_TEMPLATE = r"parley:followup:(?P<record>[0-9]+)"
"""The Follow-up button's custom_id: the debate's record id."""


class FollowUpButton(
    PressAnswered, discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=FOLLOW_UP_TEMPLATE
):
    """Follow-up under a verdict: a form for a further question, which the same panel then debates with
    this debate as context."""

    def __init__(self, record: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=_("Follow-up"),
                emoji="💬",
                style=discord.ButtonStyle.secondary,
                custom_id=f"parley:followup:{record}",
                row=VERDICT_ACTIONS_ROW,
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
    ) -> FollowUpButton:
        return cls(int(match["record"]))

    async def act(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.client.continuations.ask_follow_up(interaction, self.record)


class FollowUpModal(discord.ui.Modal):
    """The follow-up question of debate ``record``. A question refused before the debate starts (blank,
    too long, a cooldown…) is handed back to paste again."""

    def __init__(self, record: int) -> None:
        super().__init__(
            title=truncate(_("Follow-up to debate #{record}").format(record=record), MODAL_TITLE_LIMIT),
            timeout=900,
            custom_id=f"parley:followup-form:{record}",
        )
        self.record = record
        self.question: discord.ui.TextInput[FollowUpModal] = discord.ui.TextInput(
            label=_("Your follow-up question"),
            style=discord.TextStyle.paragraph,
            max_length=QUESTION_MAX_LENGTH,
            custom_id="followup-question",
        )
        self.add_item(self.question)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        speak_to(interaction)  # on_submit runs next, in this same task: a refusal speaks their language
        return True

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        typed = self.question.value
        try:
            await interaction.client.continuations.follow_up(interaction, self.record, typed)
        except (*REFUSALS, Refused) as refusal:
            if interaction.response.is_done():
                await report(interaction, refusal)
                return
            head = _("No follow-up was asked:\n{problem}\n\nYour question, to paste again:").format(
                problem=describe(refusal)[0]
            )
            await hand_back(interaction, head, typed, "question.txt")
        except Exception as error:
            await report(interaction, error)

    async def on_error(self, interaction: discord.Interaction[Any], error: Exception) -> None:  # type: ignore[override]
        await report(interaction, error)


def verdict_controls(record: int, panel: Sequence[Persona]) -> discord.ui.View:
    """The components under a debate's verdict (on its last message): a vote button per persona of its
    ``panel`` (rows 0 and 1), then the actions on the debate. They answer by record id, so they keep
    working after a restart."""
    view = discord.ui.View(timeout=None)
    for position, persona in enumerate(panel[: VOTES_PER_ROW * VERDICT_ACTIONS_ROW]):
        view.add_item(VoteButton(record, position, vote_button_label(persona)))
    view.add_item(AnotherRoundButton(record))
    view.add_item(FollowUpButton(record))
    view.add_item(TranscriptButton(record))
    return view
