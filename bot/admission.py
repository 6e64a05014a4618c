"""Admission to ``/debate``: cooldowns, concurrent debates and daily budgets, decided before the deferral.

A server is served by exactly one shard, hence one process, so cooldowns and running debates are kept in
memory; token usage is persisted (and cached here) because budgets outlive restarts. Each running debate
reserves the tokens a debate typically uses, so that simultaneous debates cannot all pass one budget
check; it is charged what it really used when it ends, however it ends. Memory stays bounded: cooldowns
older than the longest possible cooldown and usage of past days are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from bot.core.limits import Limits, Refused, refusal, usage_day, utc_now
from bot.core.panel import PanelStore
from bot.core.records import DebateStore
from bot.core.translation import N_, _

RESTARTING = N_("Parley is restarting and not starting new debates; try again in a minute.")
LONGEST_COOLDOWN = timedelta(days=1)
"""The longest cooldown a server can set (``/parley cooldown``); older starts no longer matter."""
SWEEP_EVERY = 1024
"""Admissions between two sweeps of the cooldown memory."""
TYPICAL_DEBATE_TOKENS = 8000
"""What a debate is assumed to use before this process has seen any finish."""
ESTIMATE_WEIGHT = 0.2
"""Weight of the newest finished debate in the running estimate of a debate's tokens."""


@dataclass(eq=False)
class Ticket:
    """One admitted debate; the task running it can be interrupted at shutdown."""

    guild_id: int
    user_id: int
    started: datetime
    reserved: int
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
        self._tokens: dict[int, int] = {}
        self._tokens_day: date | None = None
        self._admitted = 0
        self.typical_tokens = float(TYPICAL_DEBATE_TOKENS)
        self._idle = asyncio.Event()
        self._idle.set()
        self.draining = False

    async def limits(self, guild_id: int) -> Limits:
        return self._defaults.applied(await self._store.settings(guild_id))

    def _today(self) -> date:
        day = usage_day(self._clock())
        if day != self._tokens_day:
            self._tokens.clear()  # yesterday's counts are of no use any more
            self._tokens_day = day
        return day

    async def tokens_today(self, guild_id: int) -> int:
        day = self._today()
        if guild_id not in self._tokens:
            used = await self._usage.tokens_used(guild_id, day)
            if self._tokens_day == day:
                self._tokens.setdefault(guild_id, used)
            return used
        return self._tokens[guild_id]

    def running(self, guild_id: int) -> int:
        return len(self._running.get(guild_id, []))

    def tickets(self, guild_id: int) -> list[Ticket]:
        """The server's running debates."""
        return list(self._running.get(guild_id, []))

    def forget_guild(self, guild_id: int) -> None:
        """Drop what is remembered of a server (its members' last starts, its usage today)."""
        self._tokens.pop(guild_id, None)
        for key in [key for key in self._last_start if key[0] == guild_id]:
            del self._last_start[key]

    def reserved(self, guild_id: int) -> int:
        """Tokens the server's running debates are expected to use yet."""
        return sum(ticket.reserved for ticket in self._running.get(guild_id, []))

    @property
    def remembered(self) -> int:
        """Entries held in memory (cooldowns, usage counts, servers with debates running)."""
        return len(self._last_start) + len(self._tokens) + len(self._running)

    @contextlib.contextmanager
    def _release_on_exit(self, ticket: Ticket) -> Iterator[Ticket]:
        try:
            yield ticket
        finally:
            running = self._running[ticket.guild_id]
            running.remove(ticket)
            if not running:
                del self._running[ticket.guild_id]
            if not self._running:
                self._idle.set()

    def _sweep(self, now: datetime) -> None:
        """Forget starts older than any cooldown can be."""
        old = [key for key, started in self._last_start.items() if now - started > LONGEST_COOLDOWN]
        for key in old:
            del self._last_start[key]

    async def admit(
        self, guild_id: int, user_id: int, *, cooldown_exempt: bool = False
    ) -> contextlib.AbstractContextManager[Ticket]:
        """A ticket to hold while the debate runs, or :class:`Refused` saying when to try again.

        ``cooldown_exempt``: the member is a moderator; the cooldown keeps members from flooding a
        server, not moderators from running it. Budgets and running debates still count."""
        if self.draining:
            raise Refused(_(RESTARTING))
        limits = await self.limits(guild_id)
        tokens_today = await self.tokens_today(guild_id)
        # From here to the ticket's registration nothing awaits: simultaneous requests cannot all slip in.
        now = self._clock()
        self._admitted += 1
        if self._admitted % SWEEP_EVERY == 0:
            self._sweep(now)
        running = self._running.get(guild_id, [])
        refused = refusal(
            now,
            limits,
            last_start=None if cooldown_exempt else self._last_start.get((guild_id, user_id)),
            running_since=[ticket.started for ticket in running],
            tokens_today=tokens_today,
            tokens_reserved=self.reserved(guild_id),
        )
        if refused is not None:
            raise Refused(refused)
        if limits.cooldown_s > 0 and not cooldown_exempt:
            self._last_start[guild_id, user_id] = now
        else:
            self._last_start.pop((guild_id, user_id), None)
        ticket = Ticket(guild_id, user_id, now, round(self.typical_tokens), asyncio.current_task())
        self._running.setdefault(guild_id, []).append(ticket)
        self._idle.clear()
        return self._release_on_exit(ticket)

    async def charge(self, guild_id: int, tokens: int, *, complete: bool = True) -> int:
        """Count a debate's tokens against its server's day; returns the day's total. A ``complete``
        debate also teaches the estimate that running debates reserve."""
        day = self._today()
        if complete and tokens > 0:
            self.typical_tokens += ESTIMATE_WEIGHT * (tokens - self.typical_tokens)
        if not tokens:
            return await self.tokens_today(guild_id)
        total = await self._usage.add_tokens(guild_id, day, tokens)
        if self._tokens_day == day:
            self._tokens[guild_id] = total
        return total

    async def drain(self, grace_s: float) -> list[Ticket]:
        """Refuse new debates and wait up to ``grace_s`` for running ones; returns those still running."""
        self.draining = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace_s)
        return [ticket for tickets in self._running.values() for ticket in tickets]
