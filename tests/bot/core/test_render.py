"""Rendering stays within Discord's limits for any input and never loses text."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.debate import DebateStats, PersonaFailure, PersonaReply, Position
from bot.core.llm import FailureKind, Grounding, Source, TokenUsage
from bot.core.personas import DEFAULT_PANEL, Persona
from bot.core.render import (
    CUT_OFF_MARK,
    DESCRIPTION_LIMIT,
    EMBED_CHARS_PER_MESSAGE,
    EMBEDS_PER_MESSAGE,
    FIELD_VALUE_LIMIT,
    FOOTER_LIMIT,
    SOURCES_FIELD,
    SUGGESTIONS_FIELD,
    TITLE_LIMIT,
    VERDICT_COLOUR,
    VERDICT_TITLE,
    WRITING_FOOTER,
    Embed,
    done_state,
    draft_verdict_embeds,
    embed_size,
    failed_state,
    grounding_fields,
    pack_messages,
    panel_embed,
    persona_embeds,
    progress_state,
    status_content,
    stopped_note,
    stopped_state,
    thread_name,
    verdict_embeds,
    writing_state,
)
from bot.core.stances import Stance
from bot.core.text import discord_length, overflow, reveal_links, split_text

EMOJI = ["🚀", "🛡️", "👨‍👩‍👧‍👦", "🇫🇷", "👍🏽", "⚖️", "🤖", "e\u0301", "𝕏", "<:custom:123456789012345678>"]
MENTIONS = ["@everyone", "@here", "<@123456789012345678>", "<@!1234>", "<@&987654321098765432>", "<#42>"]

unicode_text = st.text(st.characters(codec="utf-8"), max_size=300)
LINK_PARTS = ["[", "]", "(", ")", "](", "<", ">", "https://parley.example/rules", "[the rules]", "(<"]
rich_text = st.lists(
    st.one_of(
        unicode_text,
        st.sampled_from(EMOJI + MENTIONS + LINK_PARTS + ["\n", "\n\n", ". ", " ", "**", "`", "> "]),
    ),
    max_size=60,
).map("".join)
huge_text = st.builds(lambda part, times: part * times, rich_text, st.integers(min_value=1, max_value=400))
any_text = st.one_of(rich_text, huge_text)

persona_strategy = st.builds(
    Persona,
    name=st.one_of(st.text(min_size=1, max_size=64), st.sampled_from(MENTIONS)),
    emoji=st.sampled_from(EMOJI),
    instructions=st.just("Argue your side."),
    colour=st.integers(min_value=0, max_value=0xFFFFFF),
)
STATS = DebateStats(
    wall_s=2.5, persona_sum_s=6.4, verdict_s=1.1, usage=TokenUsage(1200, 800), answered=4, panel_size=4
)


def reply(text: str, *, cut_off: bool = False) -> PersonaReply:
    return PersonaReply(text, "gemini-test", 1.25, TokenUsage(10, 20), attempts=2, cut_off=cut_off)


def assert_valid_embed(embed: Embed) -> None:
    assert discord_length(embed.get("title", "")) <= TITLE_LIMIT
    assert 0 < discord_length(embed["description"]) <= DESCRIPTION_LIMIT
    assert discord_length(embed.get("footer", {"text": ""})["text"]) <= FOOTER_LIMIT
    assert embed_size(embed) <= EMBED_CHARS_PER_MESSAGE
    assert 0 <= embed["color"] <= 0xFFFFFF


def assert_valid_messages(messages: list[list[Embed]]) -> None:
    for message in messages:
        assert 1 <= len(message) <= EMBEDS_PER_MESSAGE
        assert sum(embed_size(embed) for embed in message) <= EMBED_CHARS_PER_MESSAGE
        for embed in message:
            assert_valid_embed(embed)


@settings(max_examples=150, deadline=None)
@given(persona=persona_strategy, text=any_text.filter(lambda text: text != ""), cut_off=st.booleans())
def test_a_reply_of_any_size_renders_whole_within_limits(persona: Persona, text: str, cut_off: bool) -> None:
    embeds = persona_embeds(persona, reply(text, cut_off=cut_off))
    assert embeds[0]["title"].startswith(persona.emoji) or len(embeds[0]["title"]) == TITLE_LIMIT
    assert all("title" not in embed for embed in embeds[1:])
    assert {embed["color"] for embed in embeds} == {persona.colour}
    shown = "".join(embed["description"] for embed in embeds)
    assert shown == reveal_links(text) + (CUT_OFF_MARK if cut_off else "")
    assert "](" not in shown, "no masked link survives"
    assert [("footer" in embed) for embed in embeds] == [False] * (len(embeds) - 1) + [True]
    messages = pack_messages(embeds)
    assert_valid_messages(messages)
    assert [embed for message in messages for embed in message] == embeds


@settings(max_examples=60, deadline=None)
@given(
    panel=st.lists(persona_strategy, min_size=2, max_size=10),
    texts=st.lists(any_text, min_size=10, max_size=10),
)
def test_a_whole_panel_packs_into_valid_messages_in_order(panel: list[Persona], texts: list[str]) -> None:
    embeds = [
        embed
        for persona, text in zip(panel, texts, strict=False)
        for embed in persona_embeds(persona, reply(text or "…"))
    ]
    embeds += verdict_embeds(reply(texts[-1] or "…"), STATS)
    messages = pack_messages(embeds)
    assert_valid_messages(messages)
    assert [embed for message in messages for embed in message] == embeds


def test_packing_fills_messages_greedily() -> None:
    small: Embed = {"description": "x" * 100, "color": 1}
    assert [len(message) for message in pack_messages([small] * 23)] == [10, 10, 3]
    big: Embed = {"description": "x" * 4000, "color": 1}
    assert [len(message) for message in pack_messages([big, small, big, big])] == [2, 1, 1]


def test_a_ten_thousand_character_reply_spans_several_embeds() -> None:
    text = ("The trench run was a gamble. " * 400)[:10_000]
    embeds = persona_embeds(DEFAULT_PANEL[0], reply(text))
    assert len(embeds) == 3
    assert embeds[0]["title"] == "🚀 Rebel Pilot"
    assert "".join(embed["description"] for embed in embeds) == text
    assert embeds[-1]["footer"]["text"] == "gemini-test · 1.2 s · 30 tokens · 2 attempts"
    assert len(pack_messages(embeds)) == 2


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("[the rules](https://evil.example/x)", "the rules (https://evil.example/x)"),
        ("See [the rules](<https://evil.example/x>).", "See the rules (https://evil.example/x)."),
        ('[rules](https://evil.example/x "Parley")', "rules (https://evil.example/x)"),
        ("[Foo](https://en.wikipedia.org/wiki/Foo_(bar))", "Foo (https://en.wikipedia.org/wiki/Foo_(bar))"),
        ("[[inner](https://a.example)](https://b.example)", "inner (https://a.example) (https://b.example)"),
        ("[](https://evil.example/x)", "https://evil.example/x"),
        ("[odd](not a url)", "[odd]\u200b(not a url)"),
        ("[a] (b) and [c]", "[a] (b) and [c]"),
        ("2 < 3 and (x)", "2 < 3 and (x)"),
    ],
)
def test_masked_links_show_where_they_go(written: str, shown: str) -> None:
    assert reveal_links(written) == shown


def test_persona_and_verdict_embeds_show_the_urls_of_masked_links() -> None:
    text = "Read [the official Parley rules](<https://evil.example/phish>) before voting."
    expected = "Read the official Parley rules (https://evil.example/phish) before voting."
    (persona,) = persona_embeds(DEFAULT_PANEL[0], reply(text))
    (verdict,) = verdict_embeds(reply(text, cut_off=True), STATS)
    assert persona["description"] == expected
    assert verdict["description"] == expected + CUT_OFF_MARK


def test_deep_link_nesting_is_defused_even_when_not_written_out() -> None:
    text = "[" * 6 + "x" + "](https://e.example)" * 6
    shown = reveal_links(text)
    assert "](" not in shown
    assert shown.count("https://e.example") == 6


def test_a_failed_persona_gets_a_titled_embed_saying_why() -> None:
    failure = PersonaFailure("blocked by safety filter", FailureKind.BLOCKED, 0.4)
    (embed,) = persona_embeds(DEFAULT_PANEL[1], failure)
    assert embed["title"] == "🛡️ Imperial Officer"
    assert embed["description"] == "⚠️ No answer: blocked by safety filter."
    assert embed["color"] == DEFAULT_PANEL[1].colour


def test_the_verdict_footer_carries_the_figures() -> None:
    (embed,) = verdict_embeds(reply("Justified."), STATS)
    assert embed["title"] == VERDICT_TITLE
    assert "Verdict" in embed["title"]
    footer = embed["footer"]["text"]
    assert footer == "wall 2.5 s · Σ personas 6.4 s · verdict 1.1 s · speed-up 3.0× · 2,000 tokens"


def test_footers_count_thought_tokens_and_show_them() -> None:
    thinking = PersonaReply("Yes.", "gemini-test", 1.0, TokenUsage(100, 20, 380))
    (embed,) = persona_embeds(DEFAULT_PANEL[0], thinking)
    assert embed["footer"]["text"] == "gemini-test · 1.0 s · 500 tokens (380 thinking)"
    stats = DebateStats(2.0, 3.0, 1.0, TokenUsage(1000, 200, 1300), 4, 4)
    (verdict,) = verdict_embeds(reply("Justified."), stats)
    assert verdict["footer"]["text"].endswith("2,500 tokens (1,300 thinking)")


def test_a_failed_verdict_says_why() -> None:
    failure = PersonaFailure("timed out after 60 s", FailureKind.TIMEOUT, 60.0)
    (embed,) = verdict_embeds(failure, STATS)
    assert embed["description"] == "⚠️ No verdict: timed out after 60 s."
    assert "speed-up" in embed["footer"]["text"]


@settings(max_examples=200, deadline=None)
@given(question=any_text, panel=st.lists(persona_strategy, min_size=1, max_size=10), state=rich_text)
def test_the_status_message_fits_and_cannot_ping_or_format(
    question: str, panel: list[Persona], state: str
) -> None:
    content = status_content(question, panel, state)
    assert discord_length(content) <= 2000
    first_line = content.split("\n", 1)[0]
    assert not re.search(r"@(everyone|here)|<@[!&]?\d+>", first_line)
    assert "**" not in first_line.removeprefix("**Debate:** ")


def test_the_status_message_shows_question_panel_and_state() -> None:
    content = status_content("Was it *justified*? @everyone", DEFAULT_PANEL, progress_state(2, 4))
    assert content == (
        "**Debate:** Was it \\*justified\\*? @\u200beveryone\n"
        "**Panel:** 🚀 Rebel Pilot · 🛡️ Imperial Officer · 🌍 Neutral Citizen · 🤖 Droid Analyst\n"
        "⏳ 2/4 answered"
    )
    assert status_content("q", DEFAULT_PANEL, done_state(3.14)).endswith("✅ done in 3.1 s")
    assert status_content("q", DEFAULT_PANEL, failed_state("no persona answered")).endswith(
        "❌ failed: no persona answered"
    )


def test_a_stopped_debate_names_who_stopped_it_without_pinging_or_formatting() -> None:
    name = "Obi_Wan *Ben* <@123> @everyone"
    shown = "Obi\\_Wan \\*Ben\\* \\<\u200b@123\\> @\u200beveryone"
    assert status_content("q", DEFAULT_PANEL, stopped_state(name)).endswith(f"⏹️ stopped by {shown}")
    assert (
        stopped_note(name, 2, 4) == f"⏹️ Stopped by {shown}. 2 of 4 answers had arrived; they are kept above."
    )
    assert stopped_state("Line\nbreak") == "⏹️ stopped by Line break"


@settings(max_examples=200, deadline=None)
@given(question=any_text)
def test_thread_names_are_short_single_lines_without_mentions(question: str) -> None:
    name = thread_name(question)
    assert 1 <= len(name) <= 100
    assert "\n" not in name
    assert not re.search(r"<@[!&]?\d+>|@everyone|@here", name)


def test_thread_name_examples() -> None:
    assert thread_name("Was the destruction of the Death Star justified?") == (
        "Was the destruction of the Death Star justified?"
    )
    assert thread_name("<@123> @everyone   why\n\nnot?") == "everyone why not?"
    assert thread_name("<@&1>") == "Debate"
    assert thread_name("x" * 300) == "x" * 99 + "…"


@settings(max_examples=300, deadline=None)
@given(text=any_text, limit=st.integers(min_value=2, max_value=5000))
def test_split_text_keeps_every_character_within_the_limit(text: str, limit: int) -> None:
    pieces = split_text(text, limit)
    assert "".join(pieces) == text
    assert all(discord_length(piece) <= limit for piece in pieces)
    assert all(pieces) or pieces == [""]


@given(text=unicode_text)
def test_discord_length_counts_utf16_code_units(text: str) -> None:
    assert discord_length(text) == len(text.encode("utf-16-le")) // 2


@settings(max_examples=300, deadline=None)
@given(text=any_text, limit=st.integers(min_value=25, max_value=3000))
def test_overflow_always_fits_and_spills_everything_or_nothing(text: str, limit: int) -> None:
    note = "(the rest is attached)"
    content, spilled = overflow(text, limit, note)
    assert discord_length(content) <= limit
    if discord_length(text) <= limit:
        assert (content, spilled) == (text, None)
    else:
        assert spilled == text
        assert content.endswith("\n" + note)


def test_a_persona_embed_shows_its_stance_round_change_and_key_claim_below_the_answer() -> None:
    answer = PersonaReply(
        "x" * 5000,
        "m",
        1.0,
        TokenUsage(1, 2),
        stance=Stance.AGAINST,
        confidence=0.72,
        key_claim="@everyone *no*",
    )
    first, last = persona_embeds(DEFAULT_PANEL[0], answer, round_number=2, rounds=3, earlier=Stance.MIXED)
    assert "fields" not in first
    assert first["description"] + last["description"] == "x" * 5000
    assert last["fields"] == [
        {"name": "Stance", "value": "🔴 Against · 72 %", "inline": True},
        {"name": "Round", "value": "2 of 3", "inline": True},
        {"name": "Changed", "value": "mixed → against", "inline": True},
        {"name": "Key claim", "value": "@\u200beveryone \\*no\\*", "inline": False},
    ]


def test_a_one_round_answer_shows_its_badge_only_and_an_unreadable_one_says_unknown() -> None:
    (embed,) = persona_embeds(DEFAULT_PANEL[0], reply("Yes."))
    assert embed["fields"] == [{"name": "Stance", "value": "❔ Unknown", "inline": True}]
    same = PersonaReply("Yes.", "m", 1.0, TokenUsage(), stance=Stance.FOR)
    (embed,) = persona_embeds(DEFAULT_PANEL[0], same, round_number=2, rounds=2, earlier=Stance.FOR)
    assert [field["name"] for field in embed["fields"]] == ["Stance", "Round"]
    failure = PersonaFailure("blocked", FailureKind.BLOCKED, 0.4)
    (embed,) = persona_embeds(DEFAULT_PANEL[0], failure, round_number=2, rounds=2)
    assert embed["fields"] == [{"name": "Round", "value": "2 of 2", "inline": True}]


def test_the_verdict_shows_the_council_tally_and_who_changed_their_mind() -> None:
    rebel, imperial, citizen, droid = DEFAULT_PANEL
    positions = [
        Position(rebel, Stance.AGAINST, Stance.MIXED),
        Position(imperial, Stance.AGAINST, Stance.AGAINST),
        Position(citizen, Stance.FOR, Stance.UNKNOWN),
        Position(droid, Stance.MIXED, Stance.MIXED),
    ]
    (embed,) = verdict_embeds(reply("Justified."), STATS, positions)
    assert embed["description"] == "Justified."
    assert embed["fields"] == [
        {"name": "Changed their mind", "value": "🚀 Rebel Pilot: mixed → against", "inline": False},
        {"name": "Council", "value": "🟢 For 1 · 🔴 Against 2 · 🟡 Mixed 1", "inline": False},
    ]


def test_a_verdict_by_the_fallback_says_so_in_its_footer() -> None:
    failure = PersonaFailure("Gemini is overloaded", FailureKind.UNAVAILABLE, 3.0, model="gemini-3.5-flash")
    (embed,) = verdict_embeds(reply("Justified."), STATS, fallback_from=failure)
    assert embed["footer"]["text"].endswith(
        "2,000 tokens · verdict by the fallback gemini-test: gemini-3.5-flash failed (Gemini is overloaded)"
    )
    (embed,) = verdict_embeds(
        PersonaFailure("blocked", FailureKind.BLOCKED, 1.0), STATS, fallback_from=failure
    )
    assert embed["footer"]["text"].endswith(
        "gemini-3.5-flash failed (Gemini is overloaded), then its fallback"
    )


def test_progress_names_the_round_in_a_debate_of_several() -> None:
    assert progress_state(2, 4) == "⏳ 2/4 answered"
    assert progress_state(1, 4, round_number=2, rounds=3) == "⏳ round 2/3 · 1/4 answered"


@settings(max_examples=80, deadline=None)
@given(
    persona=persona_strategy,
    text=any_text.filter(lambda text: text != ""),
    claim=any_text,
    stance=st.sampled_from(list(Stance)),
    earlier=st.sampled_from([None, *Stance]),
)
def test_structured_answers_of_any_size_render_within_limits(
    persona: Persona, text: str, claim: str, stance: Stance, earlier: Stance | None
) -> None:
    answer = PersonaReply(
        text, "m", 1.0, TokenUsage(), stance=stance, confidence=0.5, key_claim=claim or None
    )
    embeds = persona_embeds(persona, answer, round_number=3, rounds=3, earlier=earlier)
    messages = pack_messages(embeds)
    assert_valid_messages(messages)
    for embed in embeds:
        for field in embed.get("fields", []):
            assert 0 < discord_length(field["name"]) <= 256
            assert 0 < discord_length(field["value"]) <= 1024


@settings(max_examples=200, deadline=None)
@given(text=any_text)
def test_a_draft_verdict_of_any_size_renders_whole_within_limits(text: str) -> None:
    embeds = draft_verdict_embeds(text)
    assert_valid_messages(pack_messages(embeds))
    assert embeds[0]["title"] == VERDICT_TITLE
    assert all(embed["color"] == VERDICT_COLOUR for embed in embeds)
    assert [embed.get("footer") for embed in embeds] == [None] * (len(embeds) - 1) + [
        {"text": WRITING_FOOTER}
    ]
    shown = "".join(embed["description"] for embed in embeds)
    assert shown == (reveal_links(text) if reveal_links(text).strip() else "…")


def test_a_draft_verdict_reveals_links_and_is_not_marked_cut_off() -> None:
    (embed,) = draft_verdict_embeds("Read [the rules](https://parley.example/rules) before you")
    assert embed["description"] == "Read the rules (https://parley.example/rules) before you"
    assert CUT_OFF_MARK not in embed["description"]
    assert draft_verdict_embeds("")[0]["description"] == "…"


def test_a_draft_and_its_final_verdict_differ_only_in_the_footer_while_the_text_is_the_same() -> None:
    text = "The crux: who was aboard. " * 400
    draft = draft_verdict_embeds(text)
    final = verdict_embeds(reply(text), STATS)
    assert len(draft) == len(final) > 1
    assert [{**embed, "footer": None} for embed in draft] == [{**embed, "footer": None} for embed in final]


def test_the_writing_state_says_the_verdict_is_being_written() -> None:
    assert writing_state() == "✍️ writing the verdict…"


def test_a_verdict_that_broke_off_keeps_what_was_written_and_says_why() -> None:
    failure = PersonaFailure("timed out after 90 s", FailureKind.TIMEOUT, 90.0)
    (embed,) = verdict_embeds(
        failure, STATS, written_before_failing="## The crux\nSee [this](https://x.example)"
    )
    assert embed["description"] == (
        "## The crux\nSee this (https://x.example)\n\n⚠️ *The verdict broke off here: timed out after 90 s.*"
    )
    (embed,) = verdict_embeds(failure, STATS, written_before_failing="  ")
    assert embed["description"] == "⚠️ No verdict: timed out after 90 s."


# ------------------------------------------------------------------------------------ grounded answers

REDIRECT = "https://vertexaisearch.cloud.google.com/grounding-api-redirect/"


def grounded_reply(text: str, grounding: Grounding) -> PersonaReply:
    return dataclasses.replace(reply(text), grounding=grounding)


def field_named(embeds: list[Embed], name: str) -> str:
    [value] = [
        field["value"] for embed in embeds for field in embed.get("fields", []) if field["name"] == name
    ]
    return value


def test_a_grounded_answer_lists_its_sources_once_each_and_its_search_suggestions() -> None:
    grounding = Grounding(
        sources=(
            Source("uefa.com", REDIRECT + "a"),
            Source("uefa.com", REDIRECT + "a"),  # the same page cited twice
            Source("[fake](https://evil.example) @everyone", REDIRECT + "b"),
            Source("", "https://en.wikipedia.org/wiki/Euro_(football) x"),
            Source("not a web page", "javascript:alert(1)"),
        ),
        queries=("euro 2024 winner", "euro 2024 winner", "who scored?"),
        suggestions_html="<div>chips</div>",
    )
    embeds = persona_embeds(DEFAULT_PANEL[0], grounded_reply("Spain won.", grounding))

    assert field_named(embeds, SOURCES_FIELD).split("\n") == [
        f"[uefa.com]({REDIRECT}a)",
        f"[\\[fake\\](https://evil.example) @\u200beveryone]({REDIRECT}b)",
        "[en.wikipedia.org](https://en.wikipedia.org/wiki/Euro_%28football%29%20x)",
    ]
    assert field_named(embeds, SUGGESTIONS_FIELD).split("\n") == [
        "🔎 [euro 2024 winner](https://www.google.com/search?q=euro+2024+winner)",
        "🔎 [who scored?](https://www.google.com/search?q=who+scored%3F)",
    ]
    assert SUGGESTIONS_FIELD == "Google Search suggestions"
    assert [field["name"] for field in embeds[-1]["fields"]][-2:] == [SOURCES_FIELD, SUGGESTIONS_FIELD]
    assert "footer" in embeds[-1]


def test_an_answer_without_grounding_or_with_nothing_found_has_no_such_fields() -> None:
    for outcome in (reply("Spain won."), grounded_reply("Spain won.", Grounding())):
        names = [
            field["name"]
            for embed in persona_embeds(DEFAULT_PANEL[0], outcome)
            for field in embed.get("fields", [])
        ]
        assert SOURCES_FIELD not in names
        assert SUGGESTIONS_FIELD not in names
    assert grounding_fields(Grounding(queries=("q",)))[0]["name"] == SUGGESTIONS_FIELD


def test_many_sources_are_listed_up_to_the_field_limit_and_counted() -> None:
    grounding = Grounding(
        sources=tuple(Source(f"site{i}.example", f"{REDIRECT}{i:04d}{'x' * 40}") for i in range(60)),
        queries=tuple(f"query number {i}" for i in range(60)),
    )
    sources, suggestions = grounding_fields(grounding)

    for field in (sources, suggestions):
        assert discord_length(field["value"]) <= FIELD_VALUE_LIMIT
        shown = field["value"].split("\n")
        left_out = int(re.fullmatch(r"…and (\d+) more", shown[-1])[1])  # type: ignore[index]
        assert len(shown) - 1 + left_out == 60
    assert sources["value"].startswith(f"[site0.example]({REDIRECT}0000")


@settings(max_examples=60, deadline=None)
@given(
    text=any_text.filter(lambda text: text != ""),
    titles=st.lists(rich_text, min_size=1, max_size=40),
    queries=st.lists(rich_text, max_size=40),
)
def test_a_grounded_reply_of_any_size_stays_within_limits(
    text: str, titles: list[str], queries: list[str]
) -> None:
    grounding = Grounding(
        sources=tuple(Source(title, f"{REDIRECT}{i}") for i, title in enumerate(titles)),
        queries=tuple(queries),
    )
    embeds = persona_embeds(
        DEFAULT_PANEL[0], dataclasses.replace(grounded_reply(text, grounding), key_claim="k" * 200)
    )

    shown = "".join(embed.get("description", "") for embed in embeds)
    assert shown == reveal_links(text)
    assert field_named(embeds, SOURCES_FIELD)
    assert [("footer" in embed) for embed in embeds] == [False] * (len(embeds) - 1) + [True]
    for message in pack_messages(embeds):
        assert 1 <= len(message) <= EMBEDS_PER_MESSAGE
        assert sum(embed_size(embed) for embed in message) <= EMBED_CHARS_PER_MESSAGE
        for embed in message:
            assert embed_size(embed) <= EMBED_CHARS_PER_MESSAGE
            assert "description" in embed or embed.get("fields")
            assert all(
                discord_length(field["value"]) <= FIELD_VALUE_LIMIT for field in embed.get("fields", [])
            )


def test_sources_move_to_their_own_embed_when_the_answer_fills_the_last_one() -> None:
    grounding = Grounding(
        sources=tuple(Source(f"site{i}.example", f"{REDIRECT}{i:04d}{'x' * 40}") for i in range(30)),
        queries=tuple(f"query number {i}" for i in range(30)),
    )
    outcome = dataclasses.replace(grounded_reply("w " * 2040, grounding), key_claim="k" * 200)
    embeds = persona_embeds(DEFAULT_PANEL[0], outcome)

    *answer, follow = embeds
    assert "description" not in follow
    assert "footer" in follow
    assert follow["color"] == DEFAULT_PANEL[0].colour
    assert [field["name"] for field in follow["fields"]] == [SOURCES_FIELD, SUGGESTIONS_FIELD]
    assert all("footer" not in embed for embed in answer)
    assert embed_size(answer[-1]) + embed_size(follow) > EMBED_CHARS_PER_MESSAGE
    assert len(pack_messages(embeds)) == 2


def test_the_panel_shows_which_personas_are_grounded() -> None:
    grounded = dataclasses.replace(DEFAULT_PANEL[3], grounded=True)
    fields = panel_embed((*DEFAULT_PANEL[:3], grounded), is_default=False)["fields"]
    assert ["Grounded in Google Search" in field["value"] for field in fields] == [False, False, False, True]
