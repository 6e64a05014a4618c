"""Debate results as Discord message parts (embed dicts and content), always within Discord's limits.

Nothing is truncated silently: a long reply continues in untitled embeds, which :func:`pack_messages`
spreads over as many messages as the limits require, in order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NotRequired, TypedDict
from urllib.parse import quote, quote_plus, urlsplit

from bot.core.debate import DebateStats, PersonaFailure, PersonaReply, Position
from bot.core.limits import Limits
from bot.core.llm import Grounding, TokenUsage
from bot.core.panel import AuditEntry
from bot.core.personas import Persona
from bot.core.stances import BADGES, Stance, tally
from bot.core.text import (
    discord_length,
    escape_markdown,
    neutralise_mentions,
    one_line,
    reveal_links,
    split_text,
    strip_mentions,
    truncate,
)
from bot.core.translation import N_, _, ngettext, number

CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
AUTHOR_LIMIT = 256
EMBEDS_PER_MESSAGE = 10
EMBED_CHARS_PER_MESSAGE = 6000
THREAD_NAME_LIMIT = 100

VERDICT_TITLE = N_("⚖️ Verdict")
VERDICT_COLOUR = 0xF1C40F
CUT_OFF_MARK = "\n\n" + N_("*(cut off)*")
WRITING_FOOTER = N_("✍️ writing…")


class EmbedFooter(TypedDict):
    text: str


class EmbedField(TypedDict):
    name: str
    value: str
    inline: NotRequired[bool]


class Embed(TypedDict, total=False):
    """The subset of Discord's embed object Parley sends."""

    title: str
    description: str
    color: int
    footer: EmbedFooter
    fields: list[EmbedField]
    grows_to: int
    """Parley's own, never sent (``discord.Embed.from_dict`` reads only Discord's keys): the size this
    embed may grow to once posted, by later edits (the crowd's votes); packing keeps room for it."""


def embed_size(embed: Embed) -> int:
    """Characters that count towards Discord's 6000-per-message total (for an embed that may grow, the
    most it may grow to)."""
    return max(shown_size(embed), embed.get("grows_to", 0))


def shown_size(embed: Embed) -> int:
    """Characters of Discord's 6000-per-message total that ``embed`` uses as it is now."""
    size = discord_length(embed.get("title", "")) + discord_length(embed.get("description", ""))
    size += discord_length(embed["footer"]["text"]) if "footer" in embed else 0
    for field in embed.get("fields", []):
        size += discord_length(field["name"]) + discord_length(field["value"])
    return size


def pack_messages(embeds: Iterable[Embed]) -> list[list[Embed]]:
    """Group embeds, in order, into as few messages as Discord's per-message limits allow."""
    messages: list[list[Embed]] = []
    current: list[Embed] = []
    current_size = 0
    for embed in embeds:
        size = embed_size(embed)
        if current and (len(current) == EMBEDS_PER_MESSAGE or current_size + size > EMBED_CHARS_PER_MESSAGE):
            messages.append(current)
            current, current_size = [], 0
        current.append(embed)
        current_size += size
    if current:
        messages.append(current)
    return messages


def _titled_sequence(
    title: str, colour: int, body: str, footer: str, fields: Sequence[EmbedField] = ()
) -> list[Embed]:
    """A titled embed holding the start of ``body``, untitled continuations, ``fields`` and the footer
    on the last (below all of the text)."""
    embeds: list[Embed] = [
        {"description": piece, "color": colour} for piece in split_text(body, DESCRIPTION_LIMIT)
    ]
    embeds[0] = {"title": truncate(title, TITLE_LIMIT), **embeds[0]}
    if fields:
        embeds[-1]["fields"] = list(fields)
    if footer:
        embeds[-1]["footer"] = {"text": truncate(footer, FOOTER_LIMIT)}
    return embeds


def _field(name: str, value: str, *, inline: bool = True) -> EmbedField:
    return {
        "name": truncate(name, FIELD_NAME_LIMIT),
        "value": truncate(value, FIELD_VALUE_LIMIT),
        "inline": inline,
    }


def stance_badge(stance: Stance, confidence: float | None = None) -> str:
    """``🔴 Against``, with the confidence when there is one: ``🔴 Against · 70 %``."""
    badge = _(BADGES[stance])
    return badge if confidence is None else f"{badge} · {round(confidence * 100)} %"


STANCE_NAMES: dict[Stance, str] = {
    Stance.FOR: N_("for"),
    Stance.AGAINST: N_("against"),
    Stance.MIXED: N_("mixed"),
    Stance.UNSURE: N_("unsure"),
    Stance.UNKNOWN: N_("unknown"),
}
"""A stance as a change of mind names it (``mixed → against``)."""


def stance_change(earlier: Stance, now: Stance) -> str:
    """``mixed → against``, in this task's language."""
    return f"{_(STANCE_NAMES[earlier])} → {_(STANCE_NAMES[now])}"


def _persona_fields(
    outcome: PersonaReply | PersonaFailure, round_number: int, rounds: int, earlier: Stance | None
) -> list[EmbedField]:
    """Stance badge, round, stance change and key claim of a persona's answer."""
    fields: list[EmbedField] = []
    if isinstance(outcome, PersonaReply):
        fields.append(_field(_("Stance"), stance_badge(outcome.stance, outcome.confidence)))
    if rounds > 1:
        fields.append(_field(_("Round"), _("{round} of {rounds}").format(round=round_number, rounds=rounds)))
    if isinstance(outcome, PersonaReply) and earlier is not None and earlier != outcome.stance:
        fields.append(_field(_("Changed"), stance_change(earlier, outcome.stance)))
    claim = safe_inline(outcome.key_claim or "") if isinstance(outcome, PersonaReply) else ""
    if claim:
        fields.append(_field(_("Key claim"), claim, inline=False))
    return fields


def _seconds(value: float) -> str:
    return _("{seconds} s").format(seconds=number(value, 1))


def _tokens(count: int) -> str:
    return ngettext("{count} token", "{count} tokens", count).format(count=number(count))


def _usage(usage: TokenUsage) -> str:
    """Tokens billed, and how many of them went to thinking."""
    thinking = " " + _("({count} thinking)").format(count=number(usage.thoughts)) if usage.thoughts else ""
    return _tokens(usage.total) + thinking


def persona_footer(outcome: PersonaReply | PersonaFailure) -> str:
    """Model, latency, tokens and retries of one persona's call."""
    parts = [outcome.model] if isinstance(outcome, PersonaReply) else []
    parts += [_seconds(outcome.latency_s), _usage(outcome.usage)]
    if outcome.attempts > 1:
        parts.append(
            ngettext("{count} attempt", "{count} attempts", outcome.attempts).format(count=outcome.attempts)
        )
    return " · ".join(parts)


def model_text(reply: PersonaReply) -> str:
    """A model's reply as Parley shows it: every link with its URL in view, and marked if cut off.

    A masked link's text can say anything ("the official Parley rules"); written out, the member sees
    where it really goes, so a model cannot post a link that passes for one of the bot's own.
    """
    return reveal_links(reply.text) + ("\n\n" + _("*(cut off)*") if reply.cut_off else "")


SOURCES_FIELD = N_("Sources")
SUGGESTIONS_FIELD = N_("Google Search suggestions")
GOOGLE_SEARCH_URL = "https://www.google.com/search?q="
SOURCE_TITLE_LIMIT = 100
_URL_SAFE = ":/?#@!$&'*+,;=%~-._"
"""Characters a source's address keeps as they are; any other (parentheses, blanks, brackets, angle
brackets) is percent-encoded, so that the address cannot end a markdown link early."""


def _link_target(uri: str) -> str | None:
    """``uri`` made safe inside a markdown link, or None unless it is an absolute http(s) address."""
    try:
        parts = urlsplit(uri.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return quote(uri.strip(), safe=_URL_SAFE)


def _link_text(text: str) -> str:
    """Text shown as a link's label: one line, mentions inert, markdown (brackets included) literal."""
    return escape_markdown(neutralise_mentions(one_line(text)))


def left_out_line(count: int) -> str:
    """``…and 3 more``: what a list that had to leave ``count`` lines out ends with."""
    return ngettext("…and {count} more", "…and {count} more", count).format(count=count)


def _listed(lines: Sequence[str]) -> str:
    """As many of ``lines`` as fit in one field value, then ``…and 3 more`` when some were left out."""
    kept: list[str] = []
    for index, line in enumerate(lines):
        rest = len(lines) - index - 1
        tail = "\n" + left_out_line(rest) if rest else ""
        if discord_length("\n".join([*kept, line]) + tail) > FIELD_VALUE_LIMIT:
            return "\n".join([*kept, left_out_line(len(lines) - index)])
        kept.append(line)
    return "\n".join(kept)


def grounding_fields(grounding: Grounding) -> list[EmbedField]:
    """A grounded answer's sources and its Google Search suggestions, as embed fields.

    Sources: each page once (by address), a link titled as Google titled it (its host when untitled).
    Suggestions: Google requires a grounded answer to be shown with its search suggestions, each taking
    the member straight to Google's results for it (https://ai.google.dev/gemini-api/docs/google-search,
    https://ai.google.dev/gemini-api/docs/grounding/search-suggestions, and the Grounding with Google
    Search terms at https://ai.google.dev/gemini-api/terms). The suggestions come as HTML
    (``searchEntryPoint.renderedContent``), which Discord cannot show, so each query the model searched
    for (``webSearchQueries``) is shown as written, as a link to a Google search for it, under a name that
    says they are Google Search suggestions.
    """
    sources: list[str] = []
    seen: set[str] = set()
    for source in grounding.sources:
        target = _link_target(source.uri)
        if target is None or target in seen:
            continue
        seen.add(target)
        title = source.title.strip() or urlsplit(source.uri.strip()).hostname or target
        sources.append(f"[{truncate(_link_text(title), SOURCE_TITLE_LIMIT)}]({target})")
    queries = list(dict.fromkeys(query.strip() for query in grounding.queries if query.strip()))
    suggestions = [
        f"🔎 [{truncate(_link_text(query), SOURCE_TITLE_LIMIT)}]({GOOGLE_SEARCH_URL}{quote_plus(query)})"
        for query in queries
    ]
    fields: list[EmbedField] = []
    if sources:
        fields.append(_field(_(SOURCES_FIELD), _listed(sources), inline=False))
    if suggestions:
        fields.append(_field(_(SUGGESTIONS_FIELD), _listed(suggestions), inline=False))
    return fields


def _with_fields(embeds: list[Embed], fields: Sequence[EmbedField], colour: int) -> list[Embed]:
    """``fields`` added below the last embed, or in an untitled one after it (which then takes the
    footer) when the last would outgrow what one message may hold."""
    if not fields:
        return embeds
    last = embeds[-1]
    grown: Embed = {**last, "fields": [*last.get("fields", []), *fields]}
    if embed_size(grown) <= EMBED_CHARS_PER_MESSAGE:
        return [*embeds[:-1], grown]
    follow: Embed = {"color": colour, "fields": list(fields)}
    trimmed: Embed = {**last}
    if "footer" in trimmed:
        follow["footer"] = trimmed.pop("footer")
    return [*embeds[:-1], trimmed, follow]


def persona_embeds(
    persona: Persona,
    outcome: PersonaReply | PersonaFailure,
    *,
    round_number: int = 1,
    rounds: int = 1,
    earlier: Stance | None = None,
) -> list[Embed]:
    """One titled embed (``{emoji} {name}``, the persona's colour), continued untitled if long; below the
    answer its stance badge, the round (in a debate of several) and any change of stance
    (``mixed → against``), and its key claim; a grounded answer's sources and search suggestions last."""
    if isinstance(outcome, PersonaFailure):
        body = _("⚠️ No answer: {reason}.").format(reason=_(outcome.reason))
    else:
        body = model_text(outcome)
    fields = _persona_fields(outcome, round_number, rounds, earlier)
    embeds = _titled_sequence(persona.label, persona.colour, body, persona_footer(outcome), fields)
    if isinstance(outcome, PersonaReply) and outcome.grounding is not None:
        embeds = _with_fields(embeds, grounding_fields(outcome.grounding), persona.colour)
    return embeds


def stats_footer(stats: DebateStats) -> str:
    """Wall time, Σ persona time, speed-up and tokens of the whole debate."""
    return " · ".join(
        [
            _("wall {time}").format(time=_seconds(stats.wall_s)),
            _("Σ personas {time}").format(time=_seconds(stats.persona_sum_s)),
            _("verdict {time}").format(time=_seconds(stats.verdict_s)),
            _("speed-up {factor}×").format(factor=number(stats.speedup, 1)),
            _usage(stats.usage),
        ]
    )


def council_tally(positions: Sequence[Position]) -> str:
    """Where the panel ended up: ``🟢 For 2 · 🔴 Against 1``."""
    return stance_tally([p.stance for p in positions])


def stance_tally(stances: Sequence[Stance]) -> str:
    """How many hold each stance: ``🟢 For 2 · 🔴 Against 1``."""
    return " · ".join(f"{_(BADGES[stance])} {count}" for stance, count in tally(stances).items())


def verdict_embeds(
    outcome: PersonaReply | PersonaFailure,
    stats: DebateStats,
    positions: Sequence[Position] = (),
    fallback_from: PersonaFailure | None = None,
    written_before_failing: str = "",
    *,
    crowd: Sequence[EmbedField] = (),
    crowd_room: int = 0,
) -> list[Embed]:
    """The verdict (or why there is none); below it who changed their mind and the council's tally; the
    debate's figures in the footer of its last embed, and which model wrote it when the fallback did.

    ``crowd`` fields (the crowd's votes) come last, the first beside the council's tally; that embed may
    grow by up to ``crowd_room`` characters for them (its ``grows_to``), and when its message could not
    hold that much, its fields and footer move to an untitled embed of their own.

    A verdict that broke off mid-stream keeps what was written (``written_before_failing``) and says why
    it stops there."""
    if isinstance(outcome, PersonaReply):
        body = model_text(outcome)
    elif written_before_failing.strip():
        broke_off = _("⚠️ *The verdict broke off here: {reason}.*").format(reason=_(outcome.reason))
        body = reveal_links(written_before_failing) + "\n\n" + broke_off
    else:
        body = _("⚠️ No verdict: {reason}.").format(reason=_(outcome.reason))
    fields: list[EmbedField] = []
    changed = [
        f"{safe_inline(p.persona.label)}: {stance_change(p.first, p.stance)}" for p in positions if p.changed
    ]
    if changed:
        fields.append(_field(_("Changed their mind"), "\n".join(changed), inline=False))
    if positions:
        fields.append(_field(_("Council"), council_tally(positions), inline=bool(crowd)))
    footer = stats_footer(stats)
    if fallback_from is not None:
        model = fallback_from.model or _("the verdict model")
        failed = _("{model} failed ({reason})").format(model=model, reason=_(fallback_from.reason))
        if isinstance(outcome, PersonaReply):
            footer += " · " + _("verdict by the fallback {model}: {failure}").format(
                model=outcome.model, failure=failed
            )
        else:
            footer += " · " + _("{failure}, then its fallback").format(failure=failed)
    embeds = _titled_sequence(_(VERDICT_TITLE), VERDICT_COLOUR, body, footer, fields)
    if not crowd:
        return embeds
    last = embeds[-1]
    if shown_size(last) + crowd_room > EMBED_CHARS_PER_MESSAGE:  # its message could not hold the crowd
        follow: Embed = {"color": VERDICT_COLOUR, "fields": last.pop("fields", [])}
        follow["footer"] = last.pop("footer")
        embeds.append(follow)
        last = follow
    last["grows_to"] = shown_size(last) + crowd_room
    last["fields"] = [*last.get("fields", []), *crowd]
    return embeds


def draft_verdict_embeds(text: str) -> list[Embed]:
    """The verdict while it is written: the text so far (links revealed), continued like the final one,
    with a footer saying it is still being written."""
    body = reveal_links(text)
    return _titled_sequence(
        _(VERDICT_TITLE), VERDICT_COLOUR, body if body.strip() else "…", _(WRITING_FOOTER)
    )


PANEL_PREVIEW_LIMIT = 300


def panel_embed(panel: Sequence[Persona], is_default: bool) -> Embed:
    """A panel at a glance: each persona with the start of its instructions and any model override."""
    fields: list[EmbedField] = []
    for persona in panel:
        value = truncate(persona.instructions, PANEL_PREVIEW_LIMIT)
        if persona.model:
            value += "\n*" + _("Model: {model}").format(model=escape_markdown(persona.model)) + "*"
        if persona.grounded:
            value += "\n*" + _("Grounded in Google Search") + "*"
        fields.append({"name": truncate(persona.label, FIELD_NAME_LIMIT), "value": value, "inline": False})
    title = _("This server's panel (the default)") if is_default else _("This server's panel")
    description = ngettext(
        "{count} persona answers each /debate at the same time, then a verdict follows.",
        "{count} personas answer each /debate at the same time, then a verdict follows.",
        len(panel),
    ).format(count=len(panel))
    return {
        "title": title,
        "description": description,
        "color": panel[0].colour if panel else VERDICT_COLOUR,
        "fields": fields,
        "footer": {"text": _("Moderators: /persona add, edit, remove, preset, import, export, reset")},
    }


def audit_embed(entries: Sequence[AuditEntry]) -> Embed:
    """The latest changes, newest first: when (relative time), who, and what."""
    lines: list[str] = []
    used = 0
    for entry in entries:
        line = f"<t:{int(entry.at.timestamp())}:R> <@{entry.actor_id}> {safe_inline(entry.summary)}"
        used += discord_length(line) + 1
        if used > DESCRIPTION_LIMIT:
            break
        lines.append(line)
    return {
        "title": _("Recent changes"),
        "description": "\n".join(lines) or _("No changes yet: this server still uses the default panel."),
        "color": VERDICT_COLOUR,
    }


def usage_embed(used: int, limits: Limits, running: int, resets_at: datetime) -> Embed:
    """Today's tokens against the budget, the debates running against their limit, and the cooldown."""
    budget = number(limits.daily_token_budget) if limits.daily_token_budget else _("no budget")
    cooldown = _("{seconds} s").format(seconds=limits.cooldown_s) if limits.cooldown_s else _("none")
    resets = f"{resets_at:%Y-%m-%d %H:%M}"
    return {
        "title": _("Parley usage today"),
        "color": VERDICT_COLOUR,
        "fields": [
            {
                "name": _("Gemini tokens"),
                "value": _("{used} of {budget}").format(used=number(used), budget=budget),
                "inline": True,
            },
            {
                "name": _("Debates running"),
                "value": _("{running} of at most {limit}").format(running=running, limit=limits.max_debates),
                "inline": True,
            },
            {"name": _("Cooldown per member"), "value": cooldown, "inline": True},
        ],
        "footer": {"text": _("The day's count resets at 00:00 UTC ({moment} UTC)").format(moment=resets)},
    }


def status_embed(
    version: str,
    uptime_s: float,
    shard_ids: Sequence[int],
    shard_count: int,
    latencies_s: Sequence[tuple[int, float]],
    running: int,
    used: int,
    budget: int,
) -> Embed:
    """``/parley status``: this process's version, uptime, shards and gateway latency, the debates it runs,
    and the server's tokens today against its budget (``budget`` 0: none)."""
    minutes, seconds = divmod(int(uptime_s), 60)
    hours, minutes = divmod(minutes, 60)

    def milliseconds(latency_s: float) -> str:
        """``42 ms``, or a dash before the first heartbeat was acknowledged."""
        return _("{ms} ms").format(ms=number(latency_s * 1000)) if math.isfinite(latency_s) else "—"

    if len(latencies_s) == 1:
        latency = milliseconds(latencies_s[0][1])
    else:
        latency = "\n".join(
            _("shard {shard}: {latency}").format(shard=shard, latency=milliseconds(value))
            for shard, value in latencies_s
        )
    shown_budget = number(budget) if budget else _("no budget")
    return {
        "title": _("Parley status"),
        "color": VERDICT_COLOUR,
        "fields": [
            {"name": _("Version"), "value": version, "inline": True},
            {"name": _("Uptime"), "value": f"{hours}:{minutes:02}:{seconds:02}", "inline": True},
            {
                "name": _("Shards"),
                "value": _("{ids} of {count}").format(
                    ids=", ".join(str(shard) for shard in shard_ids), count=shard_count
                ),
                "inline": True,
            },
            {"name": _("Gateway latency"), "value": latency or "—", "inline": True},
            {"name": _("Debates running in this process"), "value": number(running), "inline": True},
            {
                "name": _("Gemini tokens today"),
                "value": _("{used} of {budget}").format(used=number(used), budget=shown_budget),
                "inline": True,
            },
        ],
    }


def progress_state(answered: int, panel_size: int, round_number: int = 1, rounds: int = 1) -> str:
    """``⏳ 2/4 answered``; in a debate of several rounds, ``⏳ round 2/3 · 2/4 answered``."""
    if rounds > 1:
        return _("⏳ round {round}/{rounds} · {answered}/{panel} answered").format(
            round=round_number, rounds=rounds, answered=answered, panel=panel_size
        )
    return _("⏳ {answered}/{panel} answered").format(answered=answered, panel=panel_size)


def writing_state() -> str:
    return _("✍️ writing the verdict…")


def done_state(wall_s: float) -> str:
    return _("✅ done in {time}").format(time=_seconds(wall_s))


def failed_state(reason: str) -> str:
    return _("❌ failed: {reason}").format(reason=reason)


def _answers_kept(answered: int, expected: int) -> str:
    return ngettext(
        "{answered} of {expected} answer had arrived",
        "{answered} of {expected} answers had arrived",
        expected,
    ).format(answered=answered, expected=expected)


def interruption_note(answered: int, panel_size: int, why: str) -> str:
    """The message that closes an interrupted debate where it was posting."""
    return _(
        "⚠️ This debate was interrupted: {why}. {kept}; they are kept above, and nothing else will follow."
    ).format(why=why, kept=_answers_kept(answered, panel_size))


def stopped_state(by: str) -> str:
    """The state line of a debate stopped from its button, naming who stopped it (``by``, a display
    name: mentions inert, markdown shown literally)."""
    return _("⏹️ stopped by {name}").format(name=safe_inline(by))


def stopped_note(by: str, answered: int, panel_size: int) -> str:
    """The message that closes a stopped debate where it was posting."""
    return _("⏹️ Stopped by {name}. {kept}; they are kept above.").format(
        name=safe_inline(by), kept=_answers_kept(answered, panel_size)
    )


def safe_inline(text: str) -> str:
    """User text for message content: one line, mentions inert, markdown shown literally."""
    return escape_markdown(neutralise_mentions(one_line(text)))


def status_content(question: str, panel: Sequence[Persona], state: str, kind: str | None = None) -> str:
    """The debate's status message: the question, the panel and the state line, ≤ 2000 characters.
    ``kind`` names a continuation's kind in place of ``Debate``, e.g. ``Another round of #12``."""
    panel_line = _("**Panel:** {personas}").format(
        personas=" · ".join(safe_inline(persona.label) for persona in panel)
    )
    state_line = truncate(state, 300)
    panel_line = truncate(panel_line, CONTENT_LIMIT // 2)
    head = (f"**{kind}:**" if kind else _("**Debate:**")) + " "
    room = CONTENT_LIMIT - discord_length(head + "\n" + panel_line + "\n" + state_line)
    question_line = head + truncate(safe_inline(question), room)
    return f"{question_line}\n{panel_line}\n{state_line}"


def thread_name(question: str) -> str:
    """A thread name from the question: no mentions, one line, 1–100 characters."""
    name = one_line(strip_mentions(question))
    return truncate(name, THREAD_NAME_LIMIT) if name else _("Debate")
