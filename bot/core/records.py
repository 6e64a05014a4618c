"""What is kept of every debate as it runs, so that a crash or restart loses nothing that had arrived."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol

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


@dataclass(frozen=True, slots=True)
class StoredReply:
    position: int
    persona: str
    text: str | None
    failure: str | None
    round: int = 1
    stance: Stance | None = None


@dataclass(frozen=True, slots=True)
class Judging:
    """Who judged a debate and how: the model that wrote the verdict, the order it read the answers in."""

    model: str
    order: tuple[int, ...]


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
    ) -> int:
        """Record a new running debate of ``rounds`` rounds, started by the bot's run ``run_id``; returns
        its id."""
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

    async def tokens_used(self, guild_id: int, day: date) -> int: ...

    async def add_tokens(self, guild_id: int, day: date, tokens: int) -> int:
        """Count ``tokens`` against the server's day; returns the day's new total."""
        ...


class PrivacyStore(Protocol):
    """Deleting what Parley keeps: debates past a server's retention, a member's debates, a whole server.

    Deleting a debate deletes its replies. Running debates are left alone by the first two: they are
    still being recorded (and are at most minutes old)."""

    async def retention_days(self) -> dict[int, int]:
        """Every server that set a retention, and its number of days."""
        ...

    async def delete_debates_started_before(self, guild_id: int, cutoff: datetime) -> int:
        """Delete the server's finished debates started before ``cutoff``; returns how many."""
        ...

    async def forget_member(self, guild_id: int, actor_id: int, member_id: int) -> tuple[int, int]:
        """Delete the finished debates ``member_id`` started in the server, audited (counts only, none of
        their content); returns (deleted, still running and so kept)."""
        ...

    async def forget_guild(self, guild_id: int) -> int:
        """Delete everything of the server: panel, settings, audit log, debates and replies, token usage;
        returns how many debates there were."""
        ...


class Storage(PanelStore, DebateStore, PrivacyStore, Protocol):
    """Everything the bot keeps: panels and settings, debates and usage."""
