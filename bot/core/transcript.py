"""One debate as a Markdown document: the question, the panel, every round's answers with their stances,
the verdict, the figures and the date. Answers and the verdict are written verbatim, as the models wrote
them; the members' own text (the question, names) is quoted so that it cannot reshape the document."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from bot.core.continuations import ContinuationKind
from bot.core.personas import Persona
from bot.core.records import DebateStatus, DebateSummary, StoredDebate, StoredReply
from bot.core.render import stance_badge
from bot.core.translation import N_, _, number

OUTCOME_LABELS = {
    DebateStatus.RUNNING: N_("⏳ running"),
    DebateStatus.DONE: N_("✅ done"),
    DebateStatus.FAILED: N_("❌ failed"),
    DebateStatus.STOPPED: N_("⏹️ stopped"),
    DebateStatus.INTERRUPTED: N_("⚠️ interrupted"),
}


def message_link(guild_id: int, channel_id: int, message_id: int) -> str:
    """The URL Discord opens a message at."""
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def status_message_link(summary: DebateSummary) -> str | None:
    """Where the debate's status message is, when it got one: in the channel it was asked in, or for a
    continuation, where its parent's verdict is (its answers go there too)."""
    if summary.status_message_id is None:
        return None
    channel_id = summary.channel_id
    if summary.continues_id is not None and summary.posts_channel_id is not None:
        channel_id = summary.posts_channel_id
    return message_link(summary.guild_id, channel_id, summary.status_message_id)


def fallback_verdict_model(summary: DebateSummary, usual_verdict_model: str | None) -> str | None:
    """The model that wrote the verdict when it is not the usual verdict model (the fallback did)."""
    model = summary.verdict_model
    if model is None or usual_verdict_model is None or model == usual_verdict_model:
        return None
    return model


def outcome_label(summary: DebateSummary, usual_verdict_model: str | None = None) -> str:
    """``✅ done``, ``❌ failed``…; ``✅ done · verdict by fallback m`` when the fallback wrote it."""
    label = _(OUTCOME_LABELS[summary.status])
    fallback = fallback_verdict_model(summary, usual_verdict_model)
    if fallback is None:
        return label
    return f"{label} · " + _("verdict by fallback {model}").format(model=fallback)


def utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _quote(text: str) -> str:
    """Member text as a Markdown block quote, every line of it."""
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines() or [""])


def _code(text: str) -> str:
    """Member text inline, shown literally: in backticks longer than any run inside it."""
    longest = 0
    run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    return f"{fence}{padded}{fence}"


def _persona_heading(panel: Sequence[Persona], reply_or_position: StoredReply | int) -> str:
    position = reply_or_position if isinstance(reply_or_position, int) else reply_or_position.position
    if 0 <= position < len(panel):
        return panel[position].label
    assert isinstance(reply_or_position, StoredReply)
    return reply_or_position.persona


def _reply_section(panel: Sequence[Persona], reply: StoredReply) -> list[str]:
    lines = [f"### {_persona_heading(panel, reply)}", ""]
    if reply.failure is not None:
        lines += [_("⚠️ **No answer:** {reason}").format(reason=_(reply.failure)), ""]
        return lines
    if reply.stance is not None:
        lines.append(
            _("**Stance:** {stance}").format(stance=stance_badge(reply.stance, reply.confidence)) + "  "
        )
    if reply.key_claim:
        lines.append(_("**Key claim:** {claim}").format(claim=reply.key_claim) + "  ")
    if lines[-1] != "":
        lines.append("")
    lines += [reply.text or "", ""]
    if reply.cut_off:
        lines += [_("*(cut off at the model's length limit)*"), ""]
    return lines


def _rounds(debate: StoredDebate) -> list[str]:
    rounds = max([debate.summary.rounds, *(reply.round for reply in debate.replies)])
    first = rounds if debate.summary.kind == ContinuationKind.ROUND else 1  # the rounds before: its parents'
    lines: list[str] = []
    for round_number in range(first, rounds + 1):
        lines += ["## " + _("Round {round} of {rounds}").format(round=round_number, rounds=rounds), ""]
        replies = {reply.position: reply for reply in debate.replies if reply.round == round_number}
        positions = sorted(set(range(len(debate.panel))) | set(replies))
        for position in positions:
            reply = replies.get(position)
            if reply is None:
                heading = f"### {_persona_heading(debate.panel, position)}"
                lines += [heading, "", _("*No answer recorded.*"), ""]
            else:
                lines += _reply_section(debate.panel, reply)
    return lines


def _verdict(debate: StoredDebate, usual_verdict_model: str | None) -> list[str]:
    lines = ["## " + _("Verdict"), ""]
    if debate.verdict is None:
        ending = debate.summary.outcome or _(OUTCOME_LABELS[debate.summary.status])
        return [*lines, _("*No verdict.* The debate ended: {ending}").format(ending=ending), ""]
    lines += [debate.verdict, ""]
    notes: list[str] = []
    if debate.summary.verdict_model is not None:
        fallback = fallback_verdict_model(debate.summary, usual_verdict_model)
        if fallback:
            notes.append(_("Written by the fallback model {model}").format(model=fallback))
        else:
            notes.append(_("Written by {model}").format(model=debate.summary.verdict_model))
    if debate.judge_order:
        order = ", ".join(_persona_heading(debate.panel, position) for position in debate.judge_order)
        notes.append(_("the judge read the answers unnamed, in this order: {order}").format(order=order))
    if notes:
        lines += ["*" + "; ".join(notes) + ".*", ""]
    return lines


def _figures(debate: StoredDebate) -> list[str]:
    def seconds(value: float) -> str:
        return _("{seconds} s").format(seconds=number(value, 1))

    rows = [(_("Tokens"), number(debate.summary.tokens))]
    if debate.wall_s is not None:
        rows.append((_("Wall time"), seconds(debate.wall_s)))
    if debate.persona_sum_s is not None:
        rows.append((_("Σ persona time"), seconds(debate.persona_sum_s)))
    if debate.verdict_s is not None:
        rows.append((_("Verdict time"), seconds(debate.verdict_s)))
    if debate.wall_s and debate.persona_sum_s is not None and debate.verdict_s is not None:
        speedup = (debate.persona_sum_s + debate.verdict_s) / debate.wall_s
        rows.append((_("Speed-up"), f"{number(speedup, 1)}×"))
    return [
        "## " + _("Figures"),
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
    ]


def _facts(debate: StoredDebate, asker: str | None, usual_verdict_model: str | None) -> list[str]:
    summary = debate.summary
    who = f"{_code(asker)} ({summary.user_id})" if asker else _("member {id}").format(id=summary.user_id)
    facts = [
        "- " + _("**Asked by:** {who}").format(who=who),
        "- " + _("**Started:** {moment}").format(moment=utc_stamp(summary.started_at)),
    ]
    if debate.finished_at is not None:
        facts.append("- " + _("**Finished:** {moment}").format(moment=utc_stamp(debate.finished_at)))
    facts.append("- " + _("**Rounds:** {rounds}").format(rounds=summary.rounds))
    facts.append(
        "- " + _("**Outcome:** {outcome}").format(outcome=outcome_label(summary, usual_verdict_model))
    )
    if summary.outcome:
        facts.append("- " + _("**Status line:** {line}").format(line=_code(summary.outcome)))
    link = status_message_link(summary)
    if link is not None:
        facts.append("- " + _("**On Discord:** {link}").format(link=f"<{link}>"))
    return facts


def _title(summary: DebateSummary) -> str:
    if summary.kind == ContinuationKind.ROUND:
        title = _("Debate #{id} · another round of #{parent}")
    elif summary.kind == ContinuationKind.FOLLOW_UP:
        title = _("Debate #{id} · a follow-up question to #{parent}")
    else:
        title = _("Debate #{id}")
    return "# " + title.format(id=summary.id, parent=summary.continues_id)


def _part(
    debate: StoredDebate, asker: str | None, usual_verdict_model: str | None, *, with_panel: bool
) -> list[str]:
    """One debate of a chain: its title, question, facts, (panel,) rounds, verdict and figures."""
    summary = debate.summary
    question = [] if summary.kind == ContinuationKind.ROUND else [_quote(summary.question), ""]
    panel = [
        f"{position}. {persona.label}"
        + (" " + _("(model {model})").format(model=persona.model) if persona.model else "")
        for position, persona in enumerate(debate.panel, start=1)
    ]
    return [
        _title(summary),
        "",
        *question,
        *_facts(debate, asker, usual_verdict_model),
        "",
        *(["## " + _("Panel"), "", *panel, ""] if with_panel else []),
        *_rounds(debate),
        *_verdict(debate, usual_verdict_model),
        *_figures(debate),
    ]


def transcript_markdown(
    debate: StoredDebate,
    *,
    asker: str | None = None,
    usual_verdict_model: str | None = None,
    earlier: Sequence[StoredDebate] = (),
    askers: Mapping[int, str] | None = None,
) -> str:
    """The whole debate as Markdown. ``asker``: the asker's name when known (else their id is given);
    ``usual_verdict_model``: the configured verdict model, to tell a verdict the fallback wrote.

    A continuation comes after the debates it continues (``earlier``, the root first): each with its
    question (a follow-up's), every round and its verdict; ``askers`` names their askers by id."""
    names = dict(askers or {})
    if asker is not None:
        names[debate.summary.user_id] = asker
    lines: list[str] = []
    for index, part in enumerate([*earlier, debate]):
        lines += _part(part, names.get(part.summary.user_id), usual_verdict_model, with_panel=index == 0)
    return "\n".join(lines).rstrip("\n") + "\n"


def transcript_filename(debate_id: int) -> str:
    return f"debate-{debate_id}.md"
