"""Admission rules: cooldown, daily budget and concurrent debates, each refusal saying when to retry."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bot.core.limits import Limits, next_reset, refusal, usage_day
from bot.core.panel import GuildSettings

NOW = datetime(2026, 11, 25, 21, 30, tzinfo=UTC)
LIMITS = Limits(cooldown_s=30, max_debates=2, daily_token_budget=1000)


def ts(moment: datetime) -> str:
    return f"<t:{int(moment.timestamp())}:R>"


def test_a_member_within_the_limits_may_start() -> None:
    assert (
        refusal(NOW, LIMITS, last_start=NOW - timedelta(seconds=31), running_since=[NOW], tokens_today=999)
        is None
    )


def test_the_cooldown_says_when_it_ends() -> None:
    message = refusal(NOW, LIMITS, last_start=NOW - timedelta(seconds=10), running_since=[], tokens_today=0)
    assert message == f"Slow down: you can start another debate {ts(NOW + timedelta(seconds=20))}."


def test_a_spent_budget_says_when_the_day_resets() -> None:
    message = refusal(NOW, LIMITS, last_start=None, running_since=[], tokens_today=1000)
    midnight = datetime(2026, 11, 26, tzinfo=UTC)
    assert (
        message
        == f"This server has used its daily Gemini budget (1,000 of 1,000 tokens). It resets {ts(midnight)}."
    )
    assert refusal(NOW, Limits(30, 2, 0), last_start=None, running_since=[], tokens_today=10**9) is None


def test_debates_running_reserve_the_rest_of_the_budget() -> None:
    def with_reserved(limits: Limits, tokens_today: int, reserved: int) -> str | None:
        return refusal(
            NOW,
            limits,
            last_start=None,
            running_since=[],
            tokens_today=tokens_today,
            tokens_reserved=reserved,
        )

    assert with_reserved(LIMITS, 400, 500) is None
    assert with_reserved(LIMITS, 400, 600) == (
        "The debates running now may use the rest of this server's daily Gemini budget "
        f"(400 of 1,000 tokens used so far). Try again {ts(NOW + timedelta(seconds=30))}, "
        "when they have finished."
    )
    assert with_reserved(Limits(30, 2, 0), 0, 10**9) is None


def test_too_many_running_debates_suggests_a_time() -> None:
    message = refusal(
        NOW, LIMITS, last_start=None, running_since=[NOW - timedelta(seconds=10), NOW], tokens_today=0
    )
    assert message == (
        f"This server already has 2 debates running, its limit. "
        f"Try again {ts(NOW + timedelta(seconds=20))}, when one of them has finished."
    )
    late = refusal(
        NOW, LIMITS, last_start=None, running_since=[NOW - timedelta(minutes=5)] * 2, tokens_today=0
    )
    assert late is not None
    assert ts(NOW + timedelta(seconds=5)) in late


def test_server_settings_override_the_defaults_one_by_one() -> None:
    assert LIMITS.applied(GuildSettings()) == LIMITS
    assert LIMITS.applied(GuildSettings(cooldown_s=0, daily_token_budget=5)) == Limits(0, 2, 5)


def test_usage_days_are_utc_days() -> None:
    tokyo = datetime(2026, 11, 26, 8, 0, tzinfo=UTC).astimezone()
    assert usage_day(tokyo) == date(2026, 11, 26)
    assert next_reset(NOW) == datetime(2026, 11, 26, tzinfo=UTC)
