"""``/debate``: checks, a public deferral, the status message and its thread, then the debate itself."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import ParleyBot
from bot.core.debate import (
    DebateConfig,
    DebateFailed,
    PersonaFinished,
    PersonaReply,
    VerdictFinished,
    run_debate,
)
from bot.core.personas import PRESETS, Persona
from bot.core.render import (
    done_state,
    failed_state,
    persona_embeds,
    progress_state,
    thread_name,
    verdict_embeds,
)
from bot.core.validation import QUESTION_MAX_LENGTH, check_question
from bot.errors import needs_permission
from bot.posting import DebatePoster, StatusLine
from bot.ui import PRESET_CHOICES

THREAD_ARCHIVE_MINUTES: Literal[1440] = 1440
DEBATE_NEEDS = discord.Permissions(
    view_channel=True, embed_links=True, create_public_threads=True, send_messages_in_threads=True
)
"""What the bot needs in the channel to run a debate; checked before the deferral."""


class DebateCog(commands.Cog):
    """The ``/debate`` command."""

    def __init__(self, bot: ParleyBot) -> None:
        self.bot = bot
        settings = bot.settings
        self.config = DebateConfig(
            persona_model=settings.persona_model,
            verdict_model=settings.verdict_model,
            persona_timeout_s=settings.persona_timeout_s,
            verdict_timeout_s=settings.persona_timeout_s * 1.5,
        )

    @app_commands.command(
        name="debate", description="Ask the panel: every persona answers at once, then a verdict."
    )
    @app_commands.describe(
        question=f"What should the panel debate? (up to {QUESTION_MAX_LENGTH} characters)",
        preset="Debate with a built-in panel instead of this server's",
    )
    @app_commands.choices(preset=PRESET_CHOICES)
    @app_commands.guild_only()
    @app_commands.checks.bot_has_permissions(**{name: True for name, granted in DEBATE_NEEDS if granted})
    async def debate(
        self,
        interaction: discord.Interaction[ParleyBot],
        question: app_commands.Range[str, 1, QUESTION_MAX_LENGTH],
        preset: app_commands.Choice[str] | None = None,
    ) -> None:
        question = check_question(question)
        await interaction.response.defer(thinking=True)
        if preset is not None:
            panel = PRESETS[preset.value]
        else:
            assert interaction.guild_id is not None  # guild-only command
            panel = (await self.bot.store.panel(interaction.guild_id)).personas
        status = StatusLine(interaction, question, panel)
        poster = DebatePoster(self.bot.rate_limits, personas=len(panel))
        # The personas start thinking now; their answers wait in the poster until the thread exists.
        debate = asyncio.create_task(self._run(question, panel, status, poster), name="debate")
        try:
            message = await status.show(progress_state(0, len(panel)))
            async with (
                needs_permission("Create Public Threads", "open the debate thread"),
                self.bot.rate_limits.global_slot(),
            ):
                thread = await message.create_thread(
                    name=thread_name(question), auto_archive_duration=THREAD_ARCHIVE_MINUTES
                )
            poster.attach(thread)
            final = await debate
        except Exception:
            debate.cancel()
            await poster.close()
            with contextlib.suppress(discord.HTTPException):
                await status.finish(failed_state("interrupted by an error"))
            raise
        await status.finish(final)

    async def _run(
        self, question: str, panel: Sequence[Persona], status: StatusLine, poster: DebatePoster
    ) -> str:
        """Hand each persona to the poster as it finishes, then the verdict; return the final state line
        once everything has landed."""
        finished = 0
        final = failed_state("the debate ended without a verdict")
        async with contextlib.aclosing(run_debate(question, panel, self.bot.llm, self.config)) as events:
            async for event in events:
                if isinstance(event, PersonaFinished):
                    poster.add_persona(persona_embeds(event.persona, event.outcome))
                    finished += 1
                    status.set(progress_state(finished, len(panel)))
                elif isinstance(event, VerdictFinished):
                    poster.add_verdict(verdict_embeds(event.outcome, event.stats))
                    if isinstance(event.outcome, PersonaReply):
                        final = done_state(event.stats.wall_s)
                    else:
                        final = failed_state(f"no verdict ({event.outcome.reason})")
                elif isinstance(event, DebateFailed):
                    poster.add_verdict([])
                    final = failed_state(event.reason)
        await poster.finished()
        return final


async def setup(bot: ParleyBot) -> None:
    await bot.add_cog(DebateCog(bot))
