"""Who may start a debate now: per-member cooldown, concurrent debates per server, daily token budget."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.core.panel import GuildSettings
from bot.core.translation import _, ngettext, number


class Refused(Exception):
    """A debate that may not start now; the message, written for the member, says why and when to retry."""


@dataclass(frozen=True, slots=True)
class Limits:
    """A server's limits in force. A budget of 0 means no budget."""

    cooldown_s: int
    max_debates: int
    daily_token_budget: int

    def applied(self, settings: GuildSettings) -> Limits:
        """These defaults with the server's own settings on top."""
        return Limits(
            cooldown_s=self.cooldown_s if settings.cooldown_s is None else settings.cooldown_s,
            max_debates=self.max_debates if settings.max_debates is None else settings.max_debates,
            daily_token_budget=(
                self.daily_token_budget
                if settings.daily_token_budget is None
                else settings.daily_token_budget
            ),
        )


def utc_now() -> datetime:
    return datetime.now(UTC)


def usage_day(now: datetime) -> date:
    """The day token usage is counted under: budgets reset at 00:00 UTC."""
    return now.astimezone(UTC).date()


def next_reset(now: datetime) -> datetime:
    return datetime.combine(usage_day(now) + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def relative(moment: datetime) -> str:
    """A Discord timestamp that every member sees in their own words ("in 2 minutes")."""
    return f"<t:{int(moment.timestamp())}:R>"


def refusal(
    now: datetime,
    limits: Limits,
    *,
    last_start: datetime | None,
    running_since: list[datetime],
    tokens_today: int,
    tokens_reserved: int = 0,
    typical_debate_s: float = 30.0,
) -> str | None:
    """Why a member may not start a debate now, saying when to try again; ``None`` when they may.

    ``tokens_reserved``: what the debates running now are expected to use on top of ``tokens_today``;
    while they may still spend the rest of the budget, no other debate starts.
    """
    if last_start is not None and limits.cooldown_s > 0:
        ready = last_start + timedelta(seconds=limits.cooldown_s)
        if ready > now:
            return _("Slow down: you can start another debate {when}.").format(when=relative(ready))
    if limits.daily_token_budget > 0 and tokens_today >= limits.daily_token_budget:
        return _(
            "This server has used its daily Gemini budget ({used} of {budget} tokens). It resets {when}."
        ).format(
            used=number(tokens_today),
            budget=number(limits.daily_token_budget),
            when=relative(next_reset(now)),
        )
    if limits.daily_token_budget > 0 and tokens_today + tokens_reserved >= limits.daily_token_budget:
        likely_free = now + timedelta(seconds=typical_debate_s)
        return _(
            "The debates running now may use the rest of this server's daily Gemini budget "
            "({used} of {budget} tokens used so far). Try again {when}, when they have finished."
        ).format(
            used=number(tokens_today), budget=number(limits.daily_token_budget), when=relative(likely_free)
        )
    if len(running_since) >= limits.max_debates:
        likely_free = max(
            min(running_since) + timedelta(seconds=typical_debate_s), now + timedelta(seconds=5)
        )
        return ngettext(
            "This server already has {count} debate running, its limit. "
            "Try again {when}, when it has finished.",
            "This server already has {count} debates running, its limit. "
            "Try again {when}, when one of them has finished.",
            len(running_since),
        ).format(count=len(running_since), when=relative(likely_free))
    return None
