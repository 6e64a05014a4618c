"""A server's debate history as Discord shows it: one page of debates, newest first, as an embed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.continuations import ContinuationKind
from bot.core.records import DebateSummary
from bot.core.render import DESCRIPTION_LIMIT, VERDICT_COLOUR, Embed, safe_inline
from bot.core.text import discord_length, truncate
from bot.core.transcript import outcome_label, status_message_link
from bot.core.translation import _, ngettext, number

PAGE_SIZE = 10
QUESTION_PREVIEW = 80
CHOICE_NAME_LIMIT = 100
"""Discord's limit on an autocomplete choice's name."""


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """Page ``number`` (from 0) of ``total`` debates, holding ``debates``."""

    number: int
    total: int
    debates: Sequence[DebateSummary]

    @property
    def count(self) -> int:
        return page_count(self.total)

    @property
    def has_previous(self) -> bool:
        return self.number > 0

    @property
    def has_next(self) -> bool:
        return self.number + 1 < self.count


def page_count(total: int) -> int:
    """Pages of :data:`PAGE_SIZE` needed for ``total`` debates (at least one, shown empty)."""
    return max(1, -(-total // PAGE_SIZE))


def clamp_page(number: int, total: int) -> int:
    """``number`` moved into the pages that exist (the history may have shrunk since it was shown)."""
    return min(max(0, number), page_count(total) - 1)


def history_line(summary: DebateSummary, usual_verdict_model: str | None = None) -> str:
    """``[#12 · question](link) · <@asker> · 2 rounds · ✅ done · 1,234 tokens · <t:…:R>``: the
    question links to the debate's status message; the asker is a mention (sent without pinging)."""
    question = truncate(safe_inline(summary.question), QUESTION_PREVIEW)
    title = f"#{summary.id} · {question}"
    link = status_message_link(summary)
    parts = [
        f"[{title}]({link})" if link else title,
        *continues(summary),
        f"<@{summary.user_id}>",
        ngettext("{count} round", "{count} rounds", summary.rounds).format(count=summary.rounds),
        outcome_label(summary, usual_verdict_model),
        ngettext("{count} token", "{count} tokens", summary.tokens).format(count=number(summary.tokens)),
        f"<t:{int(summary.started_at.timestamp())}:R>",
    ]
    return " · ".join(parts)


def continues(summary: DebateSummary) -> list[str]:
    """``🔁 continues #11`` for another round, ``💬 continues #11`` for a follow-up; nothing for a debate
    asked with ``/debate``."""
    if summary.continues_id is None:
        return []
    if summary.kind == ContinuationKind.ROUND:
        return [_("🔁 continues #{parent} (another round)").format(parent=summary.continues_id)]
    return [_("💬 continues #{parent} (follow-up)").format(parent=summary.continues_id)]


def history_embed(page: HistoryPage, usual_verdict_model: str | None = None) -> Embed:
    """One page of the history; its footer says which page of how many."""
    lines: list[str] = []
    used = 0
    for summary in page.debates:
        line = history_line(summary, usual_verdict_model)
        used += discord_length(line) + 1
        if used > DESCRIPTION_LIMIT:
            break
        lines.append(line)
    description = "\n".join(lines) or _("No debates here yet that you can see.")
    debates = ngettext("{count} debate", "{count} debates", page.total).format(count=page.total)
    footer = _("Page {page} of {pages}").format(page=page.number + 1, pages=page.count) + " · " + debates
    return {
        "title": _("Recent debates"),
        "description": description,
        "color": VERDICT_COLOUR,
        "footer": {"text": footer},
    }


def debate_choice_name(summary: DebateSummary) -> str:
    """An autocomplete choice for a debate: ``#12 · the question``, within Discord's 100 characters."""
    return truncate(f"#{summary.id} · {' '.join(summary.question.split())}", CHOICE_NAME_LIMIT)
