"""The Markdown transcript of a debate and the lines of the history: every answer and the verdict
verbatim, rounds, stances, failures, figures."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from bot.core.history import (
    PAGE_SIZE,
    HistoryPage,
    clamp_page,
    debate_choice_name,
    history_embed,
    history_line,
    page_count,
)
from bot.core.personas import DEFAULT_PANEL
from bot.core.records import DebateStatus, DebateSummary, StoredDebate, StoredReply
from bot.core.render import DESCRIPTION_LIMIT
from bot.core.stances import Stance
from bot.core.text import discord_length
from bot.core.transcript import transcript_filename, transcript_markdown

STARTED = datetime(2026, 5, 9, 14, 30, 5, tzinfo=UTC)
ANSWER = "## My view\n\nYes — *for* three reasons:\n\n1. [the rules](https://example.org)\n2. `code`\n"
VERDICT = "The council leans **for**.\n\n> quoted\n\nFinal: yes."


def summary(**changes: object) -> DebateSummary:
    base = DebateSummary(
        id=12,
        guild_id=1,
        channel_id=2,
        user_id=3,
        question="Should the Empire\nbuild another *Death Star*?",
        status=DebateStatus.DONE,
        outcome="✅ done in 3.1 s",
        rounds=2,
        tokens=1234,
        started_at=STARTED,
        status_message_id=4,
        posts_channel_id=4,
        verdict_model="gemini-3.5-flash",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def debate(**changes: object) -> StoredDebate:
    replies = (
        StoredReply(0, "Rebel Pilot", ANSWER, None, 1, Stance.FOR, 0.8, "It is a trap."),
        StoredReply(1, "Imperial Officer", None, "the model timed out", 1),
        StoredReply(2, "Neutral Citizen", "Maybe.", None, 1, Stance.MIXED, None, None, True),
        StoredReply(3, "Droid Analyst", "Odds: 3,720 to 1.", None, 1, Stance.AGAINST, 0.95, "Bad odds."),
        StoredReply(0, "Rebel Pilot", "Still yes.", None, 2, Stance.FOR, 0.9, None),
        StoredReply(1, "Imperial Officer", "Now no.", None, 2, Stance.AGAINST, 0.6, "Cost."),
        StoredReply(3, "Droid Analyst", "Unchanged.", None, 2, Stance.AGAINST, None, None),
    )
    base = StoredDebate(
        summary=summary(),
        panel=DEFAULT_PANEL,
        verdict=VERDICT,
        wall_s=3.1,
        persona_sum_s=9.0,
        verdict_s=1.2,
        judge_order=(2, 0, 3, 1),
        finished_at=datetime(2026, 5, 9, 14, 30, 9, tzinfo=UTC),
        replies=replies,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


STRUCTURE = ("## Panel", "## Round ", "## Verdict", "## Figures", *(f"### {p.label}" for p in DEFAULT_PANEL))
"""The transcript's own headings (an answer may hold headings of its own: they do not end a section)."""


def section(document: str, heading: str) -> str:
    """The text under ``heading`` up to the next of the transcript's own headings of the same or a
    higher level."""
    start = document.index(heading + "\n") + len(heading) + 1
    level = len(heading.split(" ")[0])
    ends = [document.find("\n" + mark, start) for mark in STRUCTURE if len(mark.split(" ")[0]) <= level]
    ends = [found for found in ends if found >= 0]
    return document[start : min(ends) if ends else len(document)]


def test_every_answer_and_the_verdict_are_in_the_transcript_verbatim_round_by_round() -> None:
    document = transcript_markdown(debate())
    first, second = section(document, "## Round 1 of 2"), section(document, "## Round 2 of 2")
    assert ANSWER in first
    assert "Maybe." in first
    assert "Odds: 3,720 to 1." in first
    assert "Still yes." in second
    assert "Now no." in second
    assert "Unchanged." in second
    assert "Still yes." not in first
    assert ANSWER not in second
    assert VERDICT in section(document, "## Verdict")
    assert (
        document.index("## Round 1 of 2") < document.index("## Round 2 of 2") < document.index("## Verdict")
    )


def test_each_answer_is_under_its_persona_with_its_stance_confidence_and_key_claim() -> None:
    first = section(transcript_markdown(debate()), "## Round 1 of 2")
    rebel = section(first, "### 🚀 Rebel Pilot")
    assert "**Stance:** 🟢 For · 80 %" in rebel
    assert "**Key claim:** It is a trap." in rebel
    droid = section(first, "### 🤖 Droid Analyst")
    assert "**Stance:** 🔴 Against · 95 %" in droid
    assert "**Key claim:** Bad odds." in droid
    citizen = section(first, "### 🌍 Neutral Citizen")
    assert "**Stance:** 🟡 Mixed" in citizen
    assert "Key claim" not in citizen
    assert "*(cut off at the model's length limit)*" in citizen


def test_failures_and_missing_answers_are_named() -> None:
    document = transcript_markdown(debate())
    officer = section(section(document, "## Round 1 of 2"), "### 🛡️ Imperial Officer")
    assert "⚠️ **No answer:** the model timed out" in officer
    citizen = section(section(document, "## Round 2 of 2"), "### 🌍 Neutral Citizen")
    assert "*No answer recorded.*" in citizen


def test_the_header_holds_question_asker_date_outcome_link_and_panel() -> None:
    document = transcript_markdown(debate(), asker="Leia")
    assert document.startswith("# Debate #12\n\n> Should the Empire\n> build another *Death Star*?\n")
    assert "- **Asked by:** `Leia` (3)" in document
    assert "- **Started:** 2026-05-09 14:30:05 UTC" in document
    assert "- **Finished:** 2026-05-09 14:30:09 UTC" in document
    assert "- **Rounds:** 2" in document
    assert "- **Outcome:** ✅ done" in document
    assert "- **On Discord:** <https://discord.com/channels/1/2/4>" in document
    panel = section(document, "## Panel")
    assert [line for line in panel.splitlines() if line] == [
        "1. 🚀 Rebel Pilot",
        "2. 🛡️ Imperial Officer",
        "3. 🌍 Neutral Citizen",
        "4. 🤖 Droid Analyst",
    ]
    assert "- **Asked by:** member 3" in transcript_markdown(debate())


def test_figures_timings_tokens_and_the_judges_reading_order() -> None:
    document = transcript_markdown(debate())
    figures = section(document, "## Figures")
    for row in ("| Tokens | 1,234 |", "| Wall time | 3.1 s |", "| Σ persona time | 9.0 s |"):
        assert row in figures
    assert "| Verdict time | 1.2 s |" in figures
    assert "| Speed-up | 3.3× |" in figures
    verdict = section(document, "## Verdict")
    assert "Written by gemini-3.5-flash" in verdict
    order = "🌍 Neutral Citizen, 🚀 Rebel Pilot, 🤖 Droid Analyst, 🛡️ Imperial Officer"
    assert f"in this order: {order}" in verdict


def test_a_verdict_by_the_fallback_and_a_debate_without_verdict_say_so() -> None:
    by_fallback = transcript_markdown(
        debate(summary=summary(verdict_model="backup-model")), usual_verdict_model="gemini-3.5-flash"
    )
    assert "Written by the fallback model backup-model" in by_fallback
    assert "- **Outcome:** ✅ done · verdict by fallback backup-model" in by_fallback

    stopped = debate(
        summary=summary(status=DebateStatus.STOPPED, outcome="stopped by Ann (9)", verdict_model=None),
        verdict=None,
        wall_s=None,
        persona_sum_s=None,
        verdict_s=None,
        judge_order=None,
        finished_at=None,
    )
    document = transcript_markdown(stopped)
    assert "*No verdict.* The debate ended: stopped by Ann (9)" in section(document, "## Verdict")
    assert "- **Outcome:** ⏹️ stopped" in document
    assert "Finished" not in document
    assert section(document, "## Figures").count("|---|---|\n| Tokens | 1,234 |\n") == 1
    assert "Wall time" not in document


def test_the_file_name_carries_the_id() -> None:
    assert transcript_filename(12) == "debate-12.md"


def test_a_history_line_links_the_status_message_and_mentions_the_asker() -> None:
    line = history_line(summary(question="Is [this](https://evil.example) @everyone fine?"))
    assert line.startswith("[#12 · Is \\[this\\](https://evil.example) @\u200beveryone fine?]")
    assert "](https://discord.com/channels/1/2/4)" in line
    assert " · <@3> · 2 rounds · ✅ done · 1,234 tokens · <t:" in line
    assert line.endswith(f"<t:{int(STARTED.timestamp())}:R>")
    unlinked = history_line(summary(status_message_id=None, rounds=1, status=DebateStatus.INTERRUPTED))
    assert unlinked.startswith("#12 · ")
    assert "1 round · ⚠️ interrupted" in unlinked
    fallback = history_line(summary(verdict_model="backup"), usual_verdict_model="gemini-3.5-flash")
    assert "✅ done · verdict by fallback backup" in fallback


def test_a_history_page_fits_and_says_where_it_is() -> None:
    long = summary(question="why " * 2000)
    page = HistoryPage(1, 25, [dataclasses.replace(long, id=n) for n in range(PAGE_SIZE)])
    embed = history_embed(page)
    assert len(embed["description"].splitlines()) == PAGE_SIZE
    assert discord_length(embed["description"]) <= DESCRIPTION_LIMIT
    assert embed["footer"]["text"] == "Page 2 of 3 · 25 debates"
    assert page.has_previous
    assert page.has_next
    assert not HistoryPage(2, 25, []).has_next
    assert history_embed(HistoryPage(0, 0, []))["description"] == "No debates here yet that you can see."
    assert (page_count(0), page_count(10), page_count(11), page_count(30)) == (1, 1, 2, 3)
    assert (clamp_page(-1, 30), clamp_page(5, 30), clamp_page(1, 30)) == (0, 2, 1)


def test_a_choice_name_is_one_line_within_discords_limit() -> None:
    name = debate_choice_name(summary(question="Line one\nline two " + "x" * 200))
    assert name.startswith("#12 · Line one line two x")
    assert len(name) == 100
    assert name.endswith("…")
