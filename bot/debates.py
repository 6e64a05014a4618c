"""The debate service: admission, the public deferral, the venue, the engine, posting and the record.

``/debate`` hands over here. Everything that needs no network is checked before the deferral (a
refusal is private); then the personas start thinking at once while the status message and the thread
are made; each answer is recorded before it is shown; the debate's messages go through its channel's
one sender; the status turns final only once Discord accepted all of it; and the tokens used are charged
however the debate ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Literal

import discord

from bot.admission import Admission, Ticket
from bot.core.debate import (
    DebateConfig,
    DebateFailed,
    DebateStats,
    PersonaFinished,
    PersonaReply,
    VerdictChunk,
    VerdictFinished,
    run_debate,
)
from bot.core.llm import LLM, TokenUsage
from bot.core.personas import PRESETS, Persona
from bot.core.records import DebateStatus, Storage
from bot.core.render import (
    done_state,
    draft_verdict_embeds,
    failed_state,
    interruption_note,
    persona_embeds,
    progress_state,
    thread_name,
    verdict_embeds,
    writing_state,
)
from bot.core.validation import check_question
from bot.errors import BotActionForbidden, needs_permission
from bot.moderation import moderates
from bot.posting.channels import ChannelSenders, DebateQueue
from bot.posting.status import StatusLine
from bot.ratelimits import RateLimits
from bot.venues import Venue, can_post_in_channel, choose_venue

log = logging.getLogger(__name__)

THREAD_ARCHIVE_MINUTES: Literal[1440] = 1440
CLOSING_WAIT_S = 20.0
"""How long an interrupted debate waits for what it had queued (and its note) to land."""
STOPPED = "Parley was stopped before it finished"
TOO_LONG = "it took longer than Parley allows"


@dataclass
class Ending:
    """How a debate ended: its final state line, record status and figures."""

    state: str
    status: DebateStatus
    verdict: str | None = None
    stats: DebateStats | None = None


@dataclass
class RunningDebate:
    """One debate in progress: where it is shown, what it has used so far."""

    record: int
    guild_id: int
    question: str
    panel: tuple[Persona, ...]
    status: StatusLine
    queue: DebateQueue
    ticket: Ticket
    answered: int = 0
    usage: TokenUsage = TokenUsage()
    charged: bool = False


class DebateService:
    """Runs ``/debate`` from the interaction to the last message and the record."""

    def __init__(
        self,
        *,
        config: DebateConfig,
        llm: LLM,
        store: Storage,
        admission: Admission,
        senders: ChannelSenders,
        rate_limits: RateLimits,
        run_id: str,
        deadline_s: float,
    ) -> None:
        self.config = config
        self._llm = llm
        self._store = store
        self._admission = admission
        self._senders = senders
        self._rate_limits = rate_limits
        self._run_id = run_id
        self.deadline_s = deadline_s
        """A debate ends within this, well inside the interaction token's 15 minutes, whatever the models
        do (``Settings.longest_debate_s``)."""

    async def run(
        self, interaction: discord.Interaction[discord.Client], question: str, preset: str | None
    ) -> None:
        """Check, admit, defer publicly, then run the debate to its end (or its interruption)."""
        # Everything that needs no network first: a refusal comes before the deferral, privately.
        question = check_question(question)
        if interaction.guild_id is None:
            raise discord.app_commands.NoPrivateMessage()
        guild_id = interaction.guild_id
        channel_type = interaction.channel.type if interaction.channel is not None else None
        venue = choose_venue(channel_type, interaction.app_permissions)
        moderator = moderates(interaction, await self._store.settings(guild_id))
        with await self._admission.admit(guild_id, interaction.user.id, cooldown_exempt=moderator) as ticket:
            await interaction.response.defer(thinking=True)
            panel = PRESETS[preset] if preset is not None else (await self._store.panel(guild_id)).personas
            record = await self._store.begin_debate(
                guild_id=guild_id,
                channel_id=interaction.channel_id or 0,
                user_id=interaction.user.id,
                question=question,
                panel=panel,
                run_id=self._run_id,
            )
            permission = "Send Messages" if venue is Venue.THIS_CHANNEL else "Send Messages in Threads"
            debate = RunningDebate(
                record=record,
                guild_id=guild_id,
                question=question,
                panel=panel,
                status=StatusLine(interaction, question, panel),
                queue=DebateQueue(len(panel), permission),
                ticket=ticket,
            )
            try:
                async with asyncio.timeout(self.deadline_s):
                    await self._run_and_show(interaction, venue, debate)
            except asyncio.CancelledError:
                await self._interrupted(debate, STOPPED)
                raise
            except TimeoutError:
                await self._interrupted(debate, TOO_LONG)

    async def _run_and_show(
        self, interaction: discord.Interaction[discord.Client], venue: Venue, debate: RunningDebate
    ) -> None:
        """Show the status, open where the answers go, run the debate, and record how it ended."""
        # The personas start thinking now; their answers wait in the queue until there is a place for them.
        engine = asyncio.create_task(self._run_engine(debate), name=f"debate-{debate.record}")
        delivered: asyncio.Future[None] | None = None
        try:
            message = await debate.status.show(progress_state(0, len(debate.panel)))
            channel_id = await self._open_venue(interaction, venue, message, debate)
            if channel_id != message.id and interaction.app_permissions.read_message_history:
                debate.queue.replying_to = message.id  # a channel other debates may share: say whose
            self._senders.attach(debate.queue, channel_id)
            await self._store.locate_debate(
                debate.record, status_message_id=message.id, posts_channel_id=channel_id
            )
            # Posting that fails (a permission taken away) ends the debate at once: no more Gemini calls.
            delivered = asyncio.ensure_future(debate.queue.delivered())
            await asyncio.wait({engine, delivered}, return_when=asyncio.FIRST_EXCEPTION)
            if delivered.done() and delivered.exception() is not None:
                await delivered
            ending = await engine
            await delivered
        except asyncio.CancelledError:
            engine.cancel()
            if delivered is not None:
                delivered.cancel()  # the interruption waits for the queue itself
            raise
        except Exception:
            engine.cancel()
            if delivered is not None:
                delivered.cancel()
            debate.queue.abandon()
            await self._end(debate, Ending(failed_state("interrupted by an error"), DebateStatus.FAILED))
            with contextlib.suppress(discord.HTTPException):
                await debate.status.finish(failed_state("interrupted by an error"))
            raise
        # Recorded and charged before the status says so: a member who sees "done" sees it counted.
        await self._end(debate, ending)
        await debate.status.finish(ending.state)

    async def _open_venue(
        self,
        interaction: discord.Interaction[discord.Client],
        venue: Venue,
        message: discord.InteractionMessage,
        debate: RunningDebate,
    ) -> int:
        """The channel the answers go to: a new thread from the status message, or where the command was
        used. A thread Discord refuses after all sends the debate to the channel, when the bot may post
        there."""
        channel_id = interaction.channel_id or 0
        if venue is not Venue.NEW_THREAD:
            return channel_id
        try:
            async with (
                needs_permission("Create Public Threads", "open the debate thread"),
                self._rate_limits.global_slot(),
            ):
                thread = await message.create_thread(
                    name=thread_name(debate.question), auto_archive_duration=THREAD_ARCHIVE_MINUTES
                )
        except BotActionForbidden:
            if not can_post_in_channel(interaction.app_permissions):
                raise
            debate.queue.permission = "Send Messages"
            log.warning("thread creation refused in channel %s; debating in the channel", channel_id)
            return channel_id
        return thread.id

    async def _run_engine(self, debate: RunningDebate) -> Ending:
        """Hand each answer to the queue as it finishes, recorded first; then the verdict, shown while it
        is written."""
        ending = Ending(failed_state("the debate ended without a verdict"), DebateStatus.FAILED)
        writing = False
        run = run_debate(debate.question, debate.panel, self._llm, self.config)
        async with contextlib.aclosing(run) as events:
            async for event in events:
                if isinstance(event, VerdictChunk):
                    debate.queue.draft_verdict(draft_verdict_embeds(event.text))
                    if not writing:
                        writing = True
                        debate.status.set(writing_state())
                elif isinstance(event, PersonaFinished):
                    debate.usage += event.outcome.usage
                    # Recorded before it is shown: whatever Discord shows survives a crash.
                    await self._store.record_reply(debate.record, event.index, event.persona, event.outcome)
                    debate.queue.add_persona(persona_embeds(event.persona, event.outcome))
                    debate.answered += 1
                    debate.status.set(progress_state(debate.answered, len(debate.panel)))
                elif isinstance(event, VerdictFinished):
                    debate.usage += event.outcome.usage
                    debate.queue.add_verdict(verdict_embeds(event.outcome, event.stats))
                    if isinstance(event.outcome, PersonaReply):
                        state = done_state(event.stats.wall_s)
                        ending = Ending(state, DebateStatus.DONE, event.outcome.text, event.stats)
                    else:
                        reason = f"no verdict ({event.outcome.reason})"
                        ending = Ending(failed_state(reason), DebateStatus.FAILED, None, event.stats)
                elif isinstance(event, DebateFailed):
                    debate.queue.add_verdict([])
                    ending = Ending(failed_state(event.reason), DebateStatus.FAILED, None, event.stats)
        return ending

    async def _end(self, debate: RunningDebate, ending: Ending) -> None:
        """Record how the debate ended and charge the tokens it used."""
        await self._store.end_debate(
            debate.record, ending.status, ending.state, verdict=ending.verdict, stats=ending.stats
        )
        await self._charge(debate, complete=ending.status is DebateStatus.DONE)

    async def _charge(self, debate: RunningDebate, *, complete: bool) -> None:
        """Charge the debate's tokens once, in place of its reservation; only complete debates teach the
        estimate of a debate's cost."""
        if not debate.charged:
            debate.charged = True
            await self._admission.charge(debate.guild_id, debate.usage.total, complete=complete)
            debate.ticket.reserved = 0

    async def _interrupted(self, debate: RunningDebate, why: str) -> None:
        """Close a debate that cannot finish: what it had queued and a note where it was posting, its
        record and the tokens it used, then its status line."""
        if debate.queue.attached:
            debate.queue.close(interruption_note(debate.answered, len(debate.panel), why))
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSING_WAIT_S):
                    await debate.queue.delivered()
        else:
            debate.queue.abandon()
        await self._store.end_debate(
            debate.record, DebateStatus.INTERRUPTED, f"interrupted: {why}", verdict=None, stats=None
        )
        await self._charge(debate, complete=False)
        with contextlib.suppress(discord.HTTPException, TimeoutError):
            async with asyncio.timeout(CLOSING_WAIT_S):
                await debate.status.finish(failed_state(f"interrupted ({why})"))
        log.info("closed interrupted debate %s in guild %s", debate.record, debate.guild_id)
