"""``/debate``: checks, a public deferral, the status message and where the answers go, then the debate."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import ParleyBot
from bot.core.debate import (
    DebateConfig,
    DebateFailed,
    DebateStats,
    PersonaFinished,
    PersonaReply,
    VerdictFinished,
    run_debate,
)
from bot.core.personas import PRESETS, Persona
from bot.core.records import DebateStatus
from bot.core.render import (
    done_state,
    failed_state,
    persona_embeds,
    progress_state,
    thread_name,
    verdict_embeds,
)
from bot.core.validation import QUESTION_MAX_LENGTH, check_question
from bot.errors import BotActionForbidden, needs_permission
from bot.posting import DebatePoster, StatusLine
from bot.recovery import close_interrupted
from bot.ui import PRESET_CHOICES
from bot.venues import Venue, can_post_in_channel, choose_venue

log = logging.getLogger(__name__)

THREAD_ARCHIVE_MINUTES: Literal[1440] = 1440
DEADLINE_MARGIN_S = 60.0
"""Beyond the personas' and the verdict's own budgets, time a whole debate may take to post."""


@dataclass
class Ending:
    """How a debate ended: its final state line, record status and figures."""

    state: str
    status: DebateStatus
    verdict: str | None = None
    stats: DebateStats | None = None


class DebateCog(commands.Cog):
    """The ``/debate`` command."""

    def __init__(self, bot: ParleyBot) -> None:
        self.bot = bot
        settings = bot.settings
        self.config = DebateConfig(
            persona_model=settings.persona_model,
            verdict_model=settings.verdict_model,
            persona_timeout_s=settings.persona_timeout_s,
            verdict_timeout_s=settings.verdict_timeout_s,
            persona_thinking=settings.persona_thinking,
            verdict_thinking=settings.verdict_thinking,
        )
        # A debate ends well inside the interaction token's 15 minutes, whatever the models do.
        self.deadline_s = self.config.persona_timeout_s + self.config.verdict_timeout_s + DEADLINE_MARGIN_S

    @app_commands.command(
        name="debate", description="Ask the panel: every persona answers at once, then a verdict."
    )
    @app_commands.describe(
        question=f"What should the panel debate? (up to {QUESTION_MAX_LENGTH} characters)",
        preset="Debate with a built-in panel instead of this server's",
    )
    @app_commands.choices(preset=PRESET_CHOICES)
    @app_commands.guild_only()
    async def debate(
        self,
        interaction: discord.Interaction[ParleyBot],
        question: app_commands.Range[str, 1, QUESTION_MAX_LENGTH],
        preset: app_commands.Choice[str] | None = None,
    ) -> None:
        # Everything that needs no network first: a refusal comes before the deferral, privately.
        question = check_question(question)
        assert interaction.guild_id is not None  # guild-only command
        channel_type = interaction.channel.type if interaction.channel is not None else None
        venue = choose_venue(channel_type, interaction.app_permissions)
        with await self.bot.admission.admit(interaction.guild_id, interaction.user.id):
            await interaction.response.defer(thinking=True)
            panel = (
                PRESETS[preset.value]
                if preset is not None
                else (await self.bot.store.panel(interaction.guild_id)).personas
            )
            record = await self.bot.store.begin_debate(
                guild_id=interaction.guild_id,
                channel_id=interaction.channel_id or 0,
                user_id=interaction.user.id,
                question=question,
                panel=panel,
                run_id=self.bot.run_id,
            )
            try:
                async with asyncio.timeout(self.deadline_s):
                    await self._hold(interaction, question, panel, venue, record)
            except asyncio.CancelledError:
                await self._interrupted(record, "Parley was stopped before it finished")
                raise
            except TimeoutError:
                await self._interrupted(record, "it took longer than Parley allows")

    async def _hold(
        self,
        interaction: discord.Interaction[ParleyBot],
        question: str,
        panel: Sequence[Persona],
        venue: Venue,
        record: int,
    ) -> None:
        """Show the status, open where the answers go, run the debate, and record how it ended."""
        status = StatusLine(interaction, question, panel)
        permission = "Send Messages" if venue is Venue.THIS_CHANNEL else "Send Messages in Threads"
        poster = DebatePoster(self.bot.rate_limits, personas=len(panel), permission=permission)
        # The personas start thinking now; their answers wait in the poster until there is a place for them.
        guild_id = interaction.guild_id or 0
        debate = asyncio.create_task(
            self._run(guild_id, record, question, panel, status, poster), name="debate"
        )
        try:
            message = await status.show(progress_state(0, len(panel)))
            channel_id = interaction.channel_id or 0
            if venue is Venue.NEW_THREAD:
                try:
                    async with (
                        needs_permission("Create Public Threads", "open the debate thread"),
                        self.bot.rate_limits.global_slot(),
                    ):
                        thread = await message.create_thread(
                            name=thread_name(question), auto_archive_duration=THREAD_ARCHIVE_MINUTES
                        )
                    channel_id = thread.id
                except BotActionForbidden:
                    # Discord disagreed with the permissions it reported: the channel itself will do.
                    if not can_post_in_channel(interaction.app_permissions):
                        raise
                    poster.permission = "Send Messages"
                    log.warning("thread creation refused in channel %s; debating in the channel", channel_id)
            poster.attach(self.bot.get_partial_messageable(channel_id), channel_id)
            await self.bot.store.locate_debate(
                record, status_message_id=message.id, posts_channel_id=channel_id
            )
            ending = await debate
        except BaseException as error:
            debate.cancel()
            await poster.close()
            if isinstance(error, Exception):
                with contextlib.suppress(discord.HTTPException):
                    await status.finish(failed_state("interrupted by an error"))
                await self.bot.store.end_debate(
                    record, DebateStatus.FAILED, f"error: {type(error).__name__}", verdict=None, stats=None
                )
            raise
        await status.finish(ending.state)

    async def _run(
        self,
        guild_id: int,
        record: int,
        question: str,
        panel: Sequence[Persona],
        status: StatusLine,
        poster: DebatePoster,
    ) -> Ending:
        """Hand each persona to the poster as it finishes and record it, then the verdict; once everything
        has landed, record the ending and charge the tokens."""
        finished = 0
        ending = Ending(failed_state("the debate ended without a verdict"), DebateStatus.FAILED)
        async with contextlib.aclosing(run_debate(question, panel, self.bot.llm, self.config)) as events:
            async for event in events:
                if isinstance(event, PersonaFinished):
                    # Recorded before it is shown: whatever Discord shows survives a crash.
                    await self.bot.store.record_reply(record, event.index, event.persona, event.outcome)
                    poster.add_persona(persona_embeds(event.persona, event.outcome))
                    finished += 1
                    status.set(progress_state(finished, len(panel)))
                elif isinstance(event, VerdictFinished):
                    poster.add_verdict(verdict_embeds(event.outcome, event.stats))
                    if isinstance(event.outcome, PersonaReply):
                        ending = Ending(
                            done_state(event.stats.wall_s), DebateStatus.DONE, event.outcome.text, event.stats
                        )
                    else:
                        reason = f"no verdict ({event.outcome.reason})"
                        ending = Ending(failed_state(reason), DebateStatus.FAILED, None, event.stats)
                elif isinstance(event, DebateFailed):
                    poster.add_verdict([])
                    ending = Ending(failed_state(event.reason), DebateStatus.FAILED, None, event.stats)
        await poster.finished()
        await self.bot.store.end_debate(
            record, ending.status, ending.state, verdict=ending.verdict, stats=ending.stats
        )
        if ending.stats is not None:
            await self.bot.admission.charge(guild_id, ending.stats.usage.total)
        return ending

    async def _interrupted(self, record: int, why: str) -> None:
        """Close a debate that cannot finish: a note where it was posting, its status line, its record."""
        unfinished = [debate for debate in await self.bot.store.unfinished_debates() if debate.id == record]
        for debate in unfinished:
            await close_interrupted(self.bot, self.bot.store, debate, why)


async def setup(bot: ParleyBot) -> None:
    await bot.add_cog(DebateCog(bot))
