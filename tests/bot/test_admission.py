"""Admission: budgets reserved by running debates, charges however a debate ends, bounded memory."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.admission import SWEEP_EVERY, TYPICAL_DEBATE_TOKENS, Admission, Ticket
from bot.core.limits import Limits, Refused
from bot.core.panel import GuildSettings

GUILD = 1
START = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class UsageBook:
    """Settings and the daily token count, as the store keeps them."""

    def __init__(self) -> None:
        self.tokens: dict[tuple[int, date], int] = {}

    async def settings(self, guild_id: int) -> GuildSettings:
        return GuildSettings()

    async def tokens_used(self, guild_id: int, day: date) -> int:
        return self.tokens.get((guild_id, day), 0)

    async def add_tokens(self, guild_id: int, day: date, tokens: int) -> int:
        self.tokens[guild_id, day] = self.tokens.get((guild_id, day), 0) + tokens
        return self.tokens[guild_id, day]


def admission(limits: Limits, clock: Clock | None = None) -> tuple[Admission, UsageBook]:
    book = UsageBook()
    return Admission(book, book, limits, clock=clock or Clock()), book  # type: ignore[arg-type]


async def test_running_debates_reserve_budget_so_a_burst_cannot_overspend() -> None:
    gate, _book = admission(Limits(cooldown_s=0, max_debates=10, daily_token_budget=20_000))
    held = [await gate.admit(GUILD, user) for user in (1, 2, 3)]
    assert gate.reserved(GUILD) == 3 * TYPICAL_DEBATE_TOKENS
    with pytest.raises(Refused, match="The debates running now may use the rest"):
        await gate.admit(GUILD, 4)
    with contextlib.ExitStack() as stack:
        tickets = [stack.enter_context(ticket) for ticket in held]
        assert all(isinstance(ticket, Ticket) for ticket in tickets)
    assert gate.reserved(GUILD) == 0
    assert gate.running(GUILD) == 0
    with await gate.admit(GUILD, 4):
        assert gate.reserved(GUILD) == TYPICAL_DEBATE_TOKENS


async def test_a_charge_counts_against_the_day_and_teaches_the_estimate() -> None:
    gate, book = admission(Limits(0, 10, 0))
    assert await gate.charge(GUILD, 2000) == 2000
    assert await gate.charge(GUILD, 500, complete=False) == 2500
    assert book.tokens[GUILD, START.date()] == 2500
    assert await gate.tokens_today(GUILD) == 2500
    expected = TYPICAL_DEBATE_TOKENS + 0.2 * (2000 - TYPICAL_DEBATE_TOKENS)
    assert gate.typical_tokens == pytest.approx(expected), "an interrupted debate teaches nothing"


async def test_memory_stays_bounded_over_days_of_use() -> None:
    clock = Clock()
    gate, _book = admission(Limits(cooldown_s=30, max_debates=10, daily_token_budget=0), clock)
    for user in range(SWEEP_EVERY - 1):
        with await gate.admit(GUILD + user % 7, user):
            pass
        await gate.charge(GUILD + user % 7, 10)
    assert gate.remembered == SWEEP_EVERY - 1 + 7
    clock.now += timedelta(days=1, seconds=1)
    with await gate.admit(GUILD, 10**6):
        pass
    assert gate.remembered <= 2, "yesterday's cooldowns and counts are gone"


async def test_without_a_cooldown_no_start_is_remembered() -> None:
    gate, _book = admission(Limits(cooldown_s=0, max_debates=10, daily_token_budget=0))
    for user in range(50):
        with await gate.admit(GUILD, user):
            pass
    assert gate.remembered == 1, "the server's count today, and no member"


async def test_moderators_are_not_held_to_the_cooldown_but_members_are() -> None:
    gate, _book = admission(Limits(cooldown_s=60, max_debates=10, daily_token_budget=0))
    for _ in range(3):
        with await gate.admit(GUILD, 1, cooldown_exempt=True):
            pass
    with await gate.admit(GUILD, 2):
        pass
    with pytest.raises(Refused, match="Slow down"):
        await gate.admit(GUILD, 2)
