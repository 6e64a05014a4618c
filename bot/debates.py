"""The debate service: admission, the public deferral, the venue, the engine, posting and the record.

``/debate`` hands over here, and so do the buttons that continue a debate (:mod:`bot.continuations`,
through :meth:`DebateService.admit`, :meth:`~DebateService.new_debate` and :meth:`~DebateService.hold`).
Everything that needs no network is checked before the deferral (a refusal is private); then the
personas start thinking at once while the status message and the thread are made; each answer is
recorded before it is shown; the debate's messages go through its channel's one sender; the status turns
final only once Discord accepted all of it; and the tokens used are charged however the debate ends.
The asker or a moderator may stop a running debate (:meth:`DebateService.stop`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import discord

from bot.admission import Admission, Ticket
from bot.core.crowd import CROWD_FIELDS_LIMIT, crowd_fields, final_stances
from bot.core.debate import (
    DebateConfig,
    DebateFailed,
    DebateStats,
    PersonaFinished,
    PersonaReply,
    PersonaStarted,
    VerdictChunk,
    VerdictFinished,
    VerdictStarted,
    run_debate,
)
from bot.core.languages import Language, debate_language
from bot.core.llm import LLM, TokenUsage
from bot.core.personas import PRESETS, Persona
from bot.core.prompts import EarlierRound, PreviousDebate
from bot.core.records import DebateStatus, Judging, Storage
from bot.core.render import (
    done_state,
    draft_verdict_embeds,
    failed_state,
    interruption_note,
    persona_embeds,
    progress_state,
    stopped_note,
    stopped_state,
    thread_name,
    verdict_embeds,
    writing_state,
)
from bot.core.translation import N_, _, speak
from bot.core.validation import check_question, check_rounds
from bot.errors import BotActionForbidden, UserFacingError, needs_permission
from bot.logs import logging_for_debate
from bot.metrics import Metrics
from bot.moderation import moderates
from bot.posting.channels import ChannelSenders, DebateQueue
from bot.posting.status import StatusLine
from bot.ratelimits import RateLimits
from bot.ui import stop_controls, verdict_controls
from bot.venues import Venue, can_post_in_channel, choose_venue

log = logging.getLogger(__name__)

THREAD_ARCHIVE_MINUTES: Literal[1440] = 1440
CLOSING_WAIT_S = 20.0
"""How long an interrupted debate waits for what it had queued (and its note) to land."""
SHUT_DOWN = N_("Parley was shut down before it finished")
TOO_LONG = N_("it took longer than Parley allows")
OUTCOMES = {
    DebateStatus.DONE: "finished",
    DebateStatus.FAILED: "failed",
    DebateStatus.STOPPED: "stopped",
    DebateStatus.INTERRUPTED: "interrupted",
}
"""How each ending is counted in the metrics."""
NOT_RUNNING = N_("This debate is no longer running.")
NOT_YOURS = N_("Only the member who asked or a moderator can stop this debate.")
ALREADY_STOPPING = N_("This debate is already being stopped.")

T = TypeVar("T")


@dataclass
class Ending:
    """How a debate ended: its final state line, record status and figures."""

    state: str
    status: DebateStatus
    verdict: str | None = None
    stats: DebateStats | None = None
    judging: Judging | None = None
    outcome: str | None = None
    """What the record says, when it is not the state line."""


@dataclass
class RunningDebate:
    """One debate in progress: where it is shown, what it has used so far."""

    record: int
    guild_id: int
    asker_id: int
    question: str
    panel: tuple[Persona, ...]
    status: StatusLine
    queue: DebateQueue
    ticket: Ticket
    rounds: int = 1
    """The debate's last round: for another round of a debate, the earlier rounds count too."""
    language: Language | None = None
    """What the personas and the verdict answer in (None: English)."""
    first_round: int = 1
    """The first round this run holds (the rounds before it are ``earlier``)."""
    earlier: tuple[EarlierRound, ...] = ()
    previous: PreviousDebate | None = None
    """For a follow-up question, the debate it follows up."""
    round_number: int = 1
    answered: int = 0
    """Answers that arrived, over every round."""
    answered_this_round: int = 0
    usage: TokenUsage = TokenUsage()
    charged: bool = False
    engine: asyncio.Task[Ending] | None = None
    stopped_by: discord.User | discord.Member | None = None
    ended: DebateStatus | None = None
    """How it ended, once recorded."""
    shard: str = "none"
    """The shard of its guild, as the metrics label it."""

    @property
    def rounds_held(self) -> int:
        """The rounds this run holds."""
        return self.rounds - self.first_round + 1

    @property
    def answers_expected(self) -> int:
        return len(self.panel) * self.rounds_held

    def progress(self) -> str:
        return progress_state(self.answered_this_round, len(self.panel), self.round_number, self.rounds)


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
        metrics: Metrics | None = None,
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
        self._running: dict[int, RunningDebate] = {}
        """The debates this process runs, by record id: what :meth:`stop` can reach."""
        self.metrics = metrics or Metrics()

    @property
    def running_count(self) -> int:
        """How many debates this process runs now."""
        return len(self._running)

    async def run(
        self,
        interaction: discord.Interaction[discord.Client],
        question: str,
        preset: str | None,
        rounds: int = 1,
    ) -> None:
        """Check, admit, defer publicly, then run the debate of ``rounds`` rounds to its end (or its
        interruption).

        Refusals speak the member's language; once admitted, the debate's public messages speak the
        debate's (the one its personas answer in), in this task and the tasks it starts.
        """
        # Everything that needs no network first: a refusal comes before the deferral, privately.
        question = check_question(question)
        rounds = check_rounds(rounds)
        if interaction.guild_id is None:
            raise discord.app_commands.NoPrivateMessage()
        guild_id = interaction.guild_id
        channel_type = interaction.channel.type if interaction.channel is not None else None
        venue = choose_venue(channel_type, interaction.app_permissions)
        admitted, language = await self.admit(interaction, guild_id)
        with admitted as ticket:
            await interaction.response.defer(thinking=True)
            panel = PRESETS[preset] if preset is not None else (await self._store.panel(guild_id)).personas
            record = await self._store.begin_debate(
                guild_id=guild_id,
                channel_id=interaction.channel_id or 0,
                user_id=interaction.user.id,
                question=question,
                panel=panel,
                run_id=self._run_id,
                rounds=rounds,
                language=language.code if language is not None else None,
            )
            debate = self.new_debate(
                interaction, venue, ticket, record, question, panel, rounds=rounds, language=language
            )
            await self.hold(interaction, venue, debate)

    async def admit(
        self, interaction: discord.Interaction[discord.Client], guild_id: int
    ) -> tuple[contextlib.AbstractContextManager[Ticket], Language | None]:
        """Admission for the member behind ``interaction`` (a moderator skips the cooldown; a refusal
        speaks the member's language), and the language their debate is held in: the server's pinned
        one, else the member's, which this task speaks once admitted."""
        settings = await self._store.settings(guild_id)
        moderator = moderates(interaction, settings)
        language = debate_language(interaction.locale.value, settings.language)
        admitted = await self._admission.admit(guild_id, interaction.user.id, cooldown_exempt=moderator)
        # Admitted: from here on this task (and the debate's tasks) speak the debate's language.
        speak(language.code if language is not None else None)
        return admitted, language

    def new_debate(
        self,
        interaction: discord.Interaction[discord.Client],
        venue: Venue,
        ticket: Ticket,
        record: int,
        question: str,
        panel: tuple[Persona, ...],
        *,
        rounds: int,
        language: Language | None,
        first_round: int = 1,
        earlier: tuple[EarlierRound, ...] = (),
        previous: PreviousDebate | None = None,
        kind: str | None = None,
    ) -> RunningDebate:
        """The debate ``record`` about to run from ``interaction`` (already deferred), rounds
        ``first_round`` to ``rounds``; ``kind`` names a continuation's kind on its status line."""
        permission = "Send Messages" if venue is Venue.THIS_CHANNEL else "Send Messages in Threads"
        return RunningDebate(
            record=record,
            guild_id=ticket.guild_id,
            asker_id=interaction.user.id,
            question=question,
            panel=panel,
            status=StatusLine(interaction, question, panel, controls=stop_controls(record), kind=kind),
            queue=DebateQueue(len(panel) * (rounds - first_round + 1), permission),
            ticket=ticket,
            rounds=rounds,
            language=language,
            first_round=first_round,
            earlier=earlier,
            previous=previous,
            round_number=first_round,
        )

    async def hold(
        self, interaction: discord.Interaction[discord.Client], venue: Venue, debate: RunningDebate
    ) -> None:
        """Run ``debate`` to its end (or its interruption: a shutdown, the deadline), stoppable meanwhile.

        Every line logged meanwhile by its tasks names the debate; the metrics count it."""
        self._running[debate.record] = debate
        with logging_for_debate(debate.record), self.metrics.debate_running(debate.guild_id) as shard:
            debate.shard = shard
            try:
                async with asyncio.timeout(self.deadline_s):
                    await self._run_and_show(interaction, venue, debate)
            except asyncio.CancelledError:
                await self._interrupted(debate, SHUT_DOWN)
                raise
            except TimeoutError:
                await self._interrupted(debate, TOO_LONG)
            finally:
                del self._running[debate.record]
                self.metrics.debate_ended(shard, OUTCOMES.get(debate.ended or DebateStatus.FAILED, "failed"))

    async def stop(self, record_id: int, *, by: discord.Interaction[Any]) -> None:
        """Stop the running debate ``record_id`` for the member behind ``by`` (a press of its Stop button).

        Its engine is cancelled (every Gemini call with it; none starts after); the debate's own task then
        posts what had arrived and a note, records it as stopped, charges the tokens used and says who
        stopped it on its status line. Raises :class:`UserFacingError` unless the debate runs here, is not
        stopping already, and the member asked it or moderates the server.
        """
        debate = self._running.get(record_id)
        if debate is None or debate.guild_id != by.guild_id:
            raise UserFacingError(_(NOT_RUNNING))
        if by.user.id != debate.asker_id and not moderates(by, await self._store.settings(debate.guild_id)):
            raise UserFacingError(_(NOT_YOURS))
        if debate.stopped_by is not None:
            raise UserFacingError(_(ALREADY_STOPPING))
        if debate.engine is None or debate.engine.done():
            raise UserFacingError(_(NOT_RUNNING))  # everything has arrived; only the posting is left
        debate.stopped_by = by.user
        debate.engine.cancel()
        log.info("debate %s in guild %s stopped by member %s", record_id, debate.guild_id, by.user.id)

    async def _run_and_show(
        self, interaction: discord.Interaction[discord.Client], venue: Venue, debate: RunningDebate
    ) -> None:
        """Show the status, open where the answers go, run the debate, and record how it ended."""
        # The personas start thinking now; their answers wait in the queue until there is a place for them.
        engine = asyncio.create_task(self._run_engine_until_stopped(debate), name=f"debate-{debate.record}")
        debate.engine = engine
        delivered: asyncio.Future[None] | None = None
        try:
            message = await debate.status.show(debate.progress())
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
            failed = failed_state(_("interrupted by an error"))
            await self._end(debate, Ending(failed, DebateStatus.FAILED))
            with contextlib.suppress(discord.HTTPException):
                await debate.status.finish(failed)
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
                needs_permission("Create Public Threads", N_("open the debate thread")),
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

    async def _run_engine_until_stopped(self, debate: RunningDebate) -> Ending:
        """The engine's ending, or when :meth:`stop` cancelled it, a stopped one: what had arrived is
        posted, then a note saying who stopped it."""
        try:
            return await self._run_engine(debate)
        except asyncio.CancelledError:
            if debate.stopped_by is None:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # the stop is handled here; the task ends normally
        name = debate.stopped_by.display_name
        debate.queue.close(stopped_note(name, debate.answered, debate.answers_expected))
        outcome = f"stopped by {name} ({debate.stopped_by.id})"
        return Ending(stopped_state(name), DebateStatus.STOPPED, outcome=outcome)

    async def _run_engine(self, debate: RunningDebate) -> Ending:
        """Hand each answer to the queue as it finishes, recorded first, round by round; then the verdict,
        shown while it is written."""
        ending = Ending(failed_state(_("the debate ended without a verdict")), DebateStatus.FAILED)
        judging: Judging | None = None
        written = ""  # the verdict's text so far, kept if it breaks off
        run = run_debate(
            debate.question,
            debate.panel,
            self._llm,
            self.config,
            rounds=debate.rounds_held,
            language=debate.language,
            earlier=debate.earlier,
            previous=debate.previous,
        )
        async with contextlib.aclosing(run) as events:
            async for event in events:
                if isinstance(event, PersonaStarted) and event.round != debate.round_number:
                    debate.round_number, debate.answered_this_round = event.round, 0
                    debate.status.set(debate.progress())
                elif isinstance(event, VerdictChunk):
                    written = event.text
                    debate.queue.draft_verdict(draft_verdict_embeds(event.text))
                elif isinstance(event, PersonaFinished):
                    debate.usage += event.outcome.usage
                    self.metrics.persona_answered(
                        debate.shard, event.outcome.latency_s, event.outcome.usage.total
                    )
                    await _to_completion(self._keep_reply(debate, event))
                elif isinstance(event, VerdictStarted):
                    judging = Judging(event.model, event.order)
                    debate.status.set(writing_state())
                elif isinstance(event, VerdictFinished):
                    debate.usage += event.outcome.usage
                    self.metrics.verdict_written(
                        debate.shard, event.outcome.latency_s, event.outcome.usage.total
                    )
                    if event.fallback_from is not None:
                        debate.usage += event.fallback_from.usage
                        self.metrics.verdict_written(
                            debate.shard, event.fallback_from.latency_s, event.fallback_from.usage.total
                        )
                    crowd = crowd_fields(debate.panel, final_stances(debate.panel, event.positions), {})
                    debate.queue.add_verdict(
                        verdict_embeds(
                            event.outcome,
                            event.stats,
                            event.positions,
                            event.fallback_from,
                            written,
                            crowd=crowd,  # the last two fields: the votes refresh them in place
                            crowd_room=CROWD_FIELDS_LIMIT,
                        ),
                        verdict_controls(debate.record, debate.panel),
                    )
                    if isinstance(event.outcome, PersonaReply):
                        state = done_state(event.stats.wall_s)
                        judging = Judging(event.outcome.model, judging.order) if judging else None
                        ending = Ending(state, DebateStatus.DONE, event.outcome.text, event.stats, judging)
                    else:
                        reason = _("no verdict ({reason})").format(reason=_(event.outcome.reason))
                        ending = Ending(failed_state(reason), DebateStatus.FAILED, None, event.stats, judging)
                elif isinstance(event, DebateFailed):
                    debate.queue.add_verdict([])
                    ending = Ending(failed_state(event.reason), DebateStatus.FAILED, None, event.stats)
        return ending

    async def _keep_reply(self, debate: RunningDebate, event: PersonaFinished) -> None:
        """Record an answer, then queue it and count it."""
        # Recorded before it is shown: whatever Discord shows survives a crash.
        await self._store.record_reply(debate.record, event.index, event.persona, event.outcome, event.round)
        debate.queue.add_persona(
            persona_embeds(
                event.persona,
                event.outcome,
                round_number=event.round,
                rounds=debate.rounds,
                earlier=event.earlier,
            )
        )
        debate.answered += 1
        debate.answered_this_round += 1
        debate.status.set(debate.progress())

    async def _end(self, debate: RunningDebate, ending: Ending) -> None:
        """Record how the debate ended and charge the tokens it used."""
        await self._store.end_debate(
            debate.record,
            ending.status,
            ending.outcome or ending.state,
            verdict=ending.verdict,
            stats=ending.stats,
            judging=ending.judging,
        )
        debate.ended = ending.status
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
            debate.queue.close(interruption_note(debate.answered, debate.answers_expected, _(why)))
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSING_WAIT_S):
                    await debate.queue.delivered()
        else:
            debate.queue.abandon()
        await self._store.end_debate(
            debate.record, DebateStatus.INTERRUPTED, f"interrupted: {why}", verdict=None, stats=None
        )
        debate.ended = DebateStatus.INTERRUPTED
        await self._charge(debate, complete=False)
        with contextlib.suppress(discord.HTTPException, TimeoutError):
            async with asyncio.timeout(CLOSING_WAIT_S):
                await debate.status.finish(failed_state(_("interrupted ({why})").format(why=_(why))))
        log.info("closed interrupted debate %s in guild %s", debate.record, debate.guild_id)


async def _to_completion(step: Coroutine[Any, Any, T]) -> T:
    """Run ``step`` to its end even when the caller is cancelled meanwhile (an answer being recorded when
    the debate is stopped is still shown); the cancellation goes on after it."""
    task = asyncio.ensure_future(step)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise
