"""Admission to ``/debate``: cooldowns, concurrent debates and daily budgets, decided before the deferral.

A server is served by exactly one shard, hence one process, so cooldowns and running debates are kept in
memory; token usage is persisted (and cached here) because budgets outlive restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

from bot.core.limits import Limits, Refused, refusal, usage_day, utc_now
from bot.core.panel import PanelStore
from bot.core.records import DebateStore

RESTARTING = "Parley is restarting and not starting new debates; try again in a minute."


@dataclass(eq=False)
class Ticket:
    """One admitted debate; the task running it can be interrupted at shutdown."""

    guild_id: int
    user_id: int
    started: datetime
    task: asyncio.Task[object] | None = field(default=None)


class Admission:
    """Keeps the limits; ``admit`` is the only way into a debate."""

    def __init__(
        self,
        store: PanelStore,
        usage: DebateStore,
        defaults: Limits,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._usage = usage
        self._defaults = defaults
        self._clock = clock
        self._last_start: dict[tuple[int, int], datetime] = {}
        self._running: dict[int, list[Ticket]] = {}
        self._tokens: dict[tuple[int, date], int] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self.draining = False

    async def limits(self, guild_id: int) -> Limits:
        return self._defaults.applied(await self._store.settings(guild_id))

    async def tokens_today(self, guild_id: int) -> int:
        day = usage_day(self._clock())
        if (guild_id, day) not in self._tokens:
            self._tokens[guild_id, day] = await self._usage.tokens_used(guild_id, day)
        return self._tokens[guild_id, day]

    def running(self, guild_id: int) -> int:
        return len(self._running.get(guild_id, []))

    @contextlib.contextmanager
    def _holding(self, ticket: Ticket) -> Iterator[Ticket]:
        try:
            yield ticket
        finally:
            self._running[ticket.guild_id].remove(ticket)
            if not any(self._running.values()):
                self._idle.set()

    async def admit(self, guild_id: int, user_id: int) -> contextlib.AbstractContextManager[Ticket]:
        """A ticket to hold while the debate runs, or :class:`Refused` saying when to try again."""
        if self.draining:
            raise Refused(RESTARTING)
        limits = await self.limits(guild_id)
        tokens_today = await self.tokens_today(guild_id)
        # From here to the ticket's registration nothing awaits: simultaneous requests cannot all slip in.
        now = self._clock()
        running = self._running.setdefault(guild_id, [])
        refused = refusal(
            now,
            limits,
            last_start=self._last_start.get((guild_id, user_id)),
            running_since=[ticket.started for ticket in running],
            tokens_today=tokens_today,
        )
        if refused is not None:
            raise Refused(refused)
        self._last_start[guild_id, user_id] = now
        ticket = Ticket(guild_id, user_id, now, asyncio.current_task())
        running.append(ticket)
        self._idle.clear()
        return self._holding(ticket)

    async def charge(self, guild_id: int, tokens: int) -> int:
        """Count a debate's tokens against its server's day; returns the day's total."""
        day = usage_day(self._clock())
        total = (
            await self._usage.add_tokens(guild_id, day, tokens)
            if tokens
            else await self.tokens_today(guild_id)
        )
        self._tokens[guild_id, day] = total
        return total

    async def drain(self, grace_s: float) -> list[Ticket]:
        """Refuse new debates and wait up to ``grace_s`` for running ones; returns those still running."""
        self.draining = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace_s)
        return [ticket for tickets in self._running.values() for ticket in tickets]
