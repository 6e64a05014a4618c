"""What is kept of every debate as it runs, so that a crash or restart loses nothing that had arrived."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple, Protocol

from bot.core.debate import DebateStats, PersonaFailure, PersonaReply
from bot.core.panel import PanelStore
from bot.core.personas import Persona
from bot.core.stances import Stance

RETENTION_MAX_DAYS = 3650
"""The longest retention a server can set (``/parley retention``): ten years."""


def retention_cutoff(now: datetime, days: int) -> datetime:
    """Debates started before this are past a retention of ``days`` days."""
    return now - timedelta(days=days)


class DebateStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class UnfinishedDebate:
    """A debate still marked running: where it was posting, and how far it got."""

    id: int
    guild_id: int
    channel_id: int
    status_message_id: int | None
    posts_channel_id: int | None
    question: str
    panel: tuple[Persona, ...]
    answered: int
    continues_id: int | None = None

    @property
    def status_channel_id(self) -> int:
        """Where its status message is: where it was asked, or for a continuation, where its parent's
        verdict is (its answers go there too)."""
        if self.continues_id is not None and self.posts_channel_id is not None:
            return self.posts_channel_id
        return self.channel_id


@dataclass(frozen=True, slots=True)
class StoredReply:
    position: int
    persona: str
    text: str | None
    failure: str | None
    round: int = 1
    stance: Stance | None = None
    confidence: float | None = None
    key_claim: str | None = None
    cut_off: bool = False


@dataclass(frozen=True, slots=True)
class Judging:
    """Who judged a debate and how: the model that wrote the verdict, the order it read the answers in."""

    model: str
    order: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DebateSummary:
    """One line of a server's history: where a debate was asked, by whom, and how it ended.

    ``tokens``: the debate's total once it ended with figures, else what its recorded replies used.
    ``verdict_model``: the model that wrote its verdict, when it has one.
    """

    id: int
    guild_id: int
    channel_id: int
    user_id: int
    question: str
    status: DebateStatus
    outcome: str | None
    rounds: int
    tokens: int
    started_at: datetime
    status_message_id: int | None
    posts_channel_id: int | None
    verdict_model: str | None
    continues_id: int | None = None
    """The debate this one continues (another round or a follow-up of it), when it does."""
    kind: str | None = None
    """How it continues it: ``round`` or ``followup`` (:class:`~bot.core.continuations.ContinuationKind`)."""


@dataclass(frozen=True, slots=True)
class StoredDebate:
    """Everything kept of one debate: its summary, panel, verdict, figures and every reply."""

    summary: DebateSummary
    panel: tuple[Persona, ...]
    verdict: str | None
    wall_s: float | None
    persona_sum_s: float | None
    verdict_s: float | None
    judge_order: tuple[int, ...] | None
    finished_at: datetime | None
    replies: tuple[StoredReply, ...]


class DebateStore(Protocol):
    """Debate records and the daily token count of each server."""

    async def begin_debate(
        self,
        *,
        guild_id: int,
        channel_id: int,
        user_id: int,
        question: str,
        panel: tuple[Persona, ...],
        run_id: str | None = None,
        rounds: int = 1,
        language: str | None = None,
    ) -> int:
        """Record a new running debate of ``rounds`` rounds, started by the bot's run ``run_id`` and held
        in ``language`` (a Discord locale code; None: English); returns its id."""
        ...

    async def begin_continuation(
        self,
        parent_id: int,
        kind: str,
        *,
        user_id: int,
        question: str,
        run_id: str | None = None,
        rounds: int = 1,
        limit: int,
        language: str | None = None,
    ) -> int:
        """Record a running debate continuing ``parent_id`` (``kind``: ``round`` or ``followup``), held in
        ``language``, with the parent's server, channel (where the chain was asked; its answers go where
        the parent's verdict is, :meth:`locate_debate`) and panel; returns its id. Atomic, also across
        processes: raises :class:`~bot.core.continuations.ChainFull` when the chain has ``limit``
        continuations, and for another round :class:`~bot.core.continuations.RoundTaken` when the parent
        already has one."""
        ...

    async def count_continuations(self, debate_id: int) -> int:
        """How many continuations the chain of ``debate_id`` has."""
        ...

    async def release_round(self, parent_id: int, round_id: int) -> None:
        """``round_id`` ended without a verdict: another round of ``parent_id`` may be asked for again."""
        ...

    async def latest_round(self, debate_id: int) -> DebateSummary | None:
        """The end of the chain of rounds that continue ``debate_id`` (itself when none does)."""
        ...

    async def debate_chain(self, debate_id: int) -> list[StoredDebate]:
        """The debate and every debate it continues, the root first; empty when there is none."""
        ...

    async def locate_debate(
        self, debate_id: int, *, status_message_id: int, posts_channel_id: int | None
    ) -> None:
        """Where the debate's status message is and where its answers go (a thread, or the channel)."""
        ...

    async def record_reply(
        self,
        debate_id: int,
        position: int,
        persona: Persona,
        outcome: PersonaReply | PersonaFailure,
        round_number: int = 1,
    ) -> None: ...

    async def end_debate(
        self,
        debate_id: int,
        status: DebateStatus,
        outcome: str,
        *,
        verdict: str | None,
        stats: DebateStats | None,
        judging: Judging | None = None,
    ) -> None: ...

    async def unfinished_debates(self, *, not_of_run: str | None = None) -> list[UnfinishedDebate]:
        """Debates still marked running, except those the run ``not_of_run`` started."""
        ...

    async def debate_replies(self, debate_id: int) -> list[StoredReply]:
        """Every recorded reply, round by round, in panel order."""
        ...

    async def debate_judging(self, debate_id: int) -> Judging | None:
        """How the debate's verdict was judged, once it has one."""
        ...

    async def debate_status(self, debate_id: int) -> DebateStatus | None: ...

    async def debate_tokens(self, debate_id: int) -> int:
        """The tokens its recorded replies used: what to charge for a debate that ended without a verdict."""
        ...

    async def debate_channels(self, guild_id: int) -> set[int]:
        """Every channel the server's debates were asked in."""
        ...

    async def count_debates(self, guild_id: int, *, channel_ids: Collection[int] | None = None) -> int:
        """How many debates the server has (only those asked in ``channel_ids``, when given)."""
        ...

    async def debate_summaries(
        self,
        guild_id: int,
        *,
        channel_ids: Collection[int] | None = None,
        limit: int,
        offset: int = 0,
        matching: str = "",
    ) -> list[DebateSummary]:
        """The server's debates, newest first, ``limit`` from ``offset``: only those asked in
        ``channel_ids`` when given, and whose question contains ``matching`` (case aside) when not empty."""
        ...

    async def stored_debate(self, debate_id: int) -> StoredDebate | None:
        """One debate with its replies, round by round in panel order; None when there is none."""
        ...

    async def tokens_used(self, guild_id: int, day: date) -> int: ...

    async def add_tokens(self, guild_id: int, day: date, tokens: int) -> int:
        """Count ``tokens`` against the server's day; returns the day's new total."""
        ...


class NoSuchDebate(LookupError):
    """The debate is not recorded (any more: the server's retention or a ``/parley forget`` deleted it)."""


@dataclass(frozen=True, slots=True)
class DebateStanding:
    """What the crowd's votes on a debate are set against: its server, its panel, where each persona
    ended up (its stance in the last round it answered; None when it never answered) and the language
    the debate is held in (a Discord locale code; None: English, or recorded before languages were)."""

    guild_id: int
    panel: tuple[Persona, ...]
    stances: tuple[Stance | None, ...]
    language: str | None = None


class VoteStore(Protocol):
    """The crowd's votes: each member's choice of the most convincing persona of a debate, one per member.

    Votes are deleted with their debate."""

    async def cast_vote(self, debate_id: int, user_id: int, position: int) -> int | None:
        """Record that ``user_id`` finds the persona at panel ``position`` the most convincing, in place of
        any earlier vote of theirs on the debate; returns the position they voted for before (None: their
        first vote). Raises :class:`NoSuchDebate` when the debate is not recorded."""
        ...

    async def vote_counts(self, debate_id: int) -> dict[int, int]:
        """Votes per panel position, positions nobody voted for left out."""
        ...

    async def debate_standing(self, debate_id: int) -> DebateStanding | None:
        """The debate's server, panel and final stances; None when it is not recorded."""
        ...


class Forgotten(NamedTuple):
    """What ``/parley forget`` deleted of a member in a server."""

    debates: int
    """The finished debates they started."""
    running: int
    """Their debates still running, and so kept."""
    votes: int
    """Their votes on the server's debates (others' debates included)."""


class PrivacyStore(Protocol):
    """Deleting what Parley keeps: debates past a server's retention, a member's debates, a whole server.

    Deleting a debate deletes its replies, its votes and its continuations (they quote it and answer it),
    counted with it. Running debates are left alone by the first two: they are still being recorded (and
    are at most minutes old); so is a debate with a continuation still running, and that whole chain from
    it."""

    async def retention_days(self) -> dict[int, int]:
        """Every server that set a retention, and its number of days."""
        ...

    async def delete_debates_started_before(self, guild_id: int, cutoff: datetime) -> int:
        """Delete the server's finished debates started before ``cutoff``; returns how many."""
        ...

    async def forget_member(self, guild_id: int, actor_id: int, member_id: int) -> Forgotten:
        """Delete the finished debates ``member_id`` started in the server and their votes on any of the
        server's debates, audited (counts only, none of their content)."""
        ...

    async def forget_guild(self, guild_id: int) -> int:
        """Delete everything of the server: panel, settings, audit log, debates (their replies and votes),
        token usage; returns how many debates there were."""
        ...


class Storage(PanelStore, DebateStore, VoteStore, PrivacyStore, Protocol):
    """Everything the bot keeps: panels and settings, debates and their votes, and usage."""
