"""Panel rules, persona validation and the export/import format: every problem found, clearly."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.panel import (
    EXPORT_MAX_BYTES,
    PANEL_MAX,
    export_panel,
    free_colour,
    import_panel,
    nesting,
    with_added,
    with_grounding,
    with_replaced,
    without,
)
from bot.core.personas import DEFAULT_PANEL, PRESET_TITLES, PRESETS, Persona
from bot.core.validation import Invalid, make_persona, parse_colour

MODELS = ("gemini-3.1-flash-lite", "gemini-3.5-flash")
JUDGE = Persona("Judge", "⚖️", "You weigh the evidence like a judge.", 0x8E44AD)


def persona(**fields: str | None) -> Persona:
    values: dict[str, str | None] = {
        "name": "Judge",
        "emoji": "⚖️",
        "instructions": "You weigh the evidence like a judge.",
        "colour": "#8E44AD",
        "model": None,
    }
    values.update(fields)
    return make_persona(
        name=values["name"] or "",
        emoji=values["emoji"] or "",
        instructions=values["instructions"] or "",
        colour=values["colour"],
        model=values["model"],
        allowed_models=MODELS,
        default_colour=0x123456,
    )


def test_a_valid_persona_is_trimmed_and_typed() -> None:
    made = persona(name="  Judge ", colour="8e44ad", model=" gemini-3.5-flash ")
    assert made == Persona("Judge", "⚖️", "You weigh the evidence like a judge.", 0x8E44AD, "gemini-3.5-flash")
    assert persona(colour=None, model="").colour == 0x123456
    assert persona(emoji="<:gavel:123456789012345678>").emoji == "<:gavel:123456789012345678>"
    assert persona(emoji="<a:spin:123456789012345678>").emoji.startswith("<a:")
    for emoji in ("🧑‍💼", "🇫🇷", "👍🏽", "🛡️"):
        assert persona(emoji=emoji).emoji == emoji


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"name": ""}, "The name is empty."),
        ({"name": "x" * 65}, "The name is 65 characters long; the limit is 64."),
        ({"name": "@everyone"}, "The name can't contain @"),
        ({"name": "<@&123>"}, "The name can't contain < > @"),
        ({"name": "**Bold**"}, "The name can't contain *"),
        ({"name": "Two\nlines"}, "line breaks"),
        ({"emoji": "gavel"}, "The emoji must be one emoji"),
        ({"emoji": "⚖️⚖️"}, "The emoji must be one emoji"),
        ({"emoji": "<:gavel:12>"}, "The emoji must be one emoji"),
        ({"instructions": "Judge."}, "The instructions need at least 10 characters"),
        ({"instructions": "x" * 2001}, "The instructions are 2001 characters long; the limit is 2000."),
        ({"colour": "purple"}, "The colour must look like #RRGGBB"),
        ({"colour": "#12345"}, "The colour must look like #RRGGBB"),
        ({"model": "gpt-9"}, "The model 'gpt-9' isn't allowed here; choose one of: gemini-3.1-flash-lite"),
    ],
)
def test_each_bad_field_is_named(fields: dict[str, str], problem: str) -> None:
    with pytest.raises(Invalid) as caught:
        persona(**fields)
    assert any(found.startswith(problem) or problem in found for found in caught.value.problems), caught.value


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(Invalid) as caught:
        persona(name="", emoji="no", instructions="short", colour="red", model="x")
    assert len(caught.value.problems) == 5
    assert str(caught.value).count("\n") == 4
    assert str(caught.value).startswith("• The name is empty.")


def test_colours_parse_with_or_without_hash() -> None:
    assert parse_colour("#E67E22") == parse_colour("e67e22") == 0xE67E22
    with pytest.raises(Invalid):
        parse_colour("#GGGGGG")


def test_adding_respects_unique_names_and_the_size_limit() -> None:
    panel = with_added(DEFAULT_PANEL, JUDGE)
    assert panel[-1] == JUDGE
    with pytest.raises(Invalid, match="already is a persona called 'Judge'"):
        with_added(panel, Persona("judge", "⚖️", "Another judge entirely.", 1))
    full = tuple(Persona(f"P{i}", "🤖", "Speak as a robot.", i) for i in range(PANEL_MAX))
    with pytest.raises(Invalid, match=r"The panel is full \(10 personas\)"):
        with_added(full, JUDGE)


def test_replacing_and_removing_find_names_case_insensitively() -> None:
    renamed = Persona("Rebel Ace", "🚀", "You flew at Yavin and Hoth.", 1)
    panel = with_replaced(DEFAULT_PANEL, "  rebel PILOT ", renamed)
    assert panel[0] == renamed
    assert panel[1:] == DEFAULT_PANEL[1:]
    with pytest.raises(Invalid, match="already is a persona called 'Droid Analyst'"):
        with_replaced(DEFAULT_PANEL, "Rebel Pilot", Persona("droid analyst", "🚀", "Collide on purpose.", 1))
    assert with_replaced(DEFAULT_PANEL, "Rebel Pilot", DEFAULT_PANEL[0]) == DEFAULT_PANEL
    assert without(DEFAULT_PANEL, "neutral citizen") == (DEFAULT_PANEL[0], DEFAULT_PANEL[1], DEFAULT_PANEL[3])
    with pytest.raises(Invalid, match="There is no persona called 'Nobody' on this panel"):
        without(DEFAULT_PANEL, "Nobody")
    with pytest.raises(Invalid, match="A panel needs at least 2 personas"):
        without(DEFAULT_PANEL[:2], "Rebel Pilot")


def test_free_colour_avoids_colours_in_use() -> None:
    panel = (Persona("A", "🚀", "xxxxxxxxxx", 0xE67E22), Persona("B", "🚀", "xxxxxxxxxx", 0x3498DB))
    assert free_colour(panel) not in {0xE67E22, 0x3498DB}


def test_every_preset_is_a_valid_panel_with_instructions_worth_using() -> None:
    assert set(PRESETS) == set(PRESET_TITLES) == {"starwars", "stakeholders", "ethics", "brainstorm"}
    assert PRESETS["starwars"] == DEFAULT_PANEL
    expected = {
        "stakeholders": ["HR", "Legal", "Product", "Engineering"],
        "ethics": ["Utilitarian", "Deontologist", "Virtue Ethicist", "Sceptic"],
        "brainstorm": ["Optimist", "Critic", "Wild Card", "Pragmatist"],
    }
    for name, names in expected.items():
        assert [p.name for p in PRESETS[name]] == names
    for panel in PRESETS.values():
        assert import_panel(export_panel(panel), MODELS) == panel
        assert all(len(p.instructions) >= 200 for p in panel)


def test_export_is_the_documented_format() -> None:
    document = json.loads(
        export_panel((JUDGE, Persona("Jury", "👥", "Twelve ordinary people.", 0x010203, "m")))
    )
    assert document == {
        "version": 1,
        "personas": [
            {"name": "Judge", "emoji": "⚖️", "instructions": JUDGE.instructions, "colour": "#8E44AD"},
            {
                "name": "Jury",
                "emoji": "👥",
                "instructions": "Twelve ordinary people.",
                "colour": "#010203",
                "model": "m",
            },
        ],
    }


persona_strategy = st.builds(
    Persona,
    name=st.text(st.characters(codec="utf-8", exclude_characters="`*_~|\\<>@#[]"), min_size=1, max_size=64)
    .map(str.strip)
    .filter(lambda n: n and n.isprintable()),
    emoji=st.sampled_from(["🚀", "⚖️", "🧑‍💼", "🇫🇷", "<:gavel:123456789012345678>"]),
    instructions=st.text(min_size=10, max_size=2000).map(str.strip).filter(lambda t: len(t) >= 10),
    colour=st.integers(0, 0xFFFFFF),
    model=st.sampled_from([None, *MODELS]),
    grounded=st.booleans(),
)


@settings(max_examples=100, deadline=None)
@given(panel=st.lists(persona_strategy, min_size=2, max_size=10, unique_by=lambda p: p.name.casefold()))
def test_export_then_import_gives_the_same_panel(panel: list[Persona]) -> None:
    assert import_panel(export_panel(tuple(panel)), MODELS) == tuple(panel)


def problems_of(document: object, raw: bytes | None = None) -> list[str]:
    with pytest.raises(Invalid) as caught:
        import_panel(raw if raw is not None else json.dumps(document).encode(), MODELS)
    return caught.value.problems


def good(name: str = "Judge", **extra: object) -> dict[str, object]:
    return {"name": name, "emoji": "⚖️", "instructions": "You weigh the evidence.", **extra}


def test_import_refuses_what_is_not_the_format() -> None:
    assert problems_of(None, b"{not json") == [
        "The file isn't valid JSON (line 1, column 2: Expecting property name enclosed in double quotes)."
    ]
    assert problems_of(None, b"\xff\xfe") == [
        "The file isn't UTF-8 text; export a panel with /persona export to see the format."
    ]
    assert problems_of([1, 2]) == ['The file must hold one JSON object: {"version": 1, "personas": [...]}.']
    assert problems_of(None, b" " * (EXPORT_MAX_BYTES + 1)) == ["The file is 64 KiB; the limit is 64 KiB."]
    assert problems_of({"version": 1}) == ["'personas' must be a list of personas."]


def test_import_lists_every_problem_at_once() -> None:
    problems = problems_of(
        {
            "version": 2,
            "extra": True,
            "personas": [
                good(),
                good("judge"),
                good("Clerk", emoji="clerk", colour="#XYZ"),
                good("Bailiff", mood="stern"),
                {"name": "Usher", "emoji": 5},
                "not an object",
                good("Reporter", model="gpt-9"),
                good("A"),
                good("B"),
                good("C"),
                good("D"),
            ],
        }
    )
    assert problems == [
        "Unknown key 'extra' at the top level.",
        "'version' must be 1; got 2.",
        "personas[2] (Clerk): The emoji must be one emoji, like ⚖️ or a server emoji like <:gavel:123…>;"
        " got 'clerk'.",
        "personas[2] (Clerk): The colour must look like #RRGGBB, for example #E67E22; got '#XYZ'.",
        "personas[3] (Bailiff): unknown key 'mood'.",
        "personas[4] (Usher): 'instructions' is missing.",
        "personas[4] (Usher): 'emoji' must be text.",
        "personas[5] must be an object with name, emoji and instructions.",
        "personas[6] (Reporter): The model 'gpt-9' isn't allowed here; choose one of:"
        " gemini-3.1-flash-lite, gemini-3.5-flash.",
        "A panel holds 2 to 10 personas; the file has 11.",
        "Two personas are called 'judge'; names must differ (ignoring case).",
    ]


def test_import_refuses_too_few_personas() -> None:
    assert problems_of({"version": 1, "personas": [good()]}) == [
        "A panel holds 2 to 10 personas; the file has 1."
    ]


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 32_000 + b"]" * 32_000,
        b"[" * EXPORT_MAX_BYTES,
        b'{"version": 1, "personas": [{"name": ' + b"[" * 50_000 + b"]" * 10_000 + b"}]}",
        b'{"version": 1, "personas": ' + b'{"a":' * 9_000 + b"1" + b"}" * 9_000 + b"}",
    ],
)
def test_deeply_nested_json_is_refused_clearly_not_by_exhausting_the_parser(raw: bytes) -> None:
    assert len(raw) <= EXPORT_MAX_BYTES
    (problem,) = problems_of(None, raw)
    assert problem.startswith("The file nests lists and objects ")
    assert problem.endswith(
        " levels deep; a panel file needs 3 (export a panel with /persona export to see the format)."
    )


def test_nesting_counts_brackets_outside_strings_only() -> None:
    assert nesting('{"personas": [{"name": "[[[{{{\\"]]]"}]}') == 3
    assert nesting("[[1], [[2]]]") == 3
    assert nesting('"[[["') == 0
    brackets_in_text = good("Judge", instructions="You weigh [[[[[[[[[[ evidence ]]]]]]]]]] calmly.")
    panel = import_panel(
        json.dumps({"version": 1, "personas": [brackets_in_text, good("Jury")]}).encode(), MODELS
    )
    assert panel[0].instructions.startswith("You weigh [[[[")


def test_import_refuses_a_version_that_only_equals_one_loosely() -> None:
    assert problems_of({"version": True, "personas": [good(), good("Jury")]}) == [
        "'version' must be 1; got true."
    ]
    assert problems_of({"version": 1.0, "personas": [good(), good("Jury")]}) == [
        "'version' must be 1; got 1.0."
    ]
    assert problems_of({"personas": [good(), good("Jury")]}) == ["'version' is missing; it must be 1."]
    assert problems_of({"version": [[1]], "personas": [good(), good("Jury")]}) == [
        "'version' must be 1; got a list."
    ]


def test_problems_quote_long_values_briefly() -> None:
    long = "N" * 5000
    problems = problems_of(
        {
            "version": "v" * 5000,
            long: 1,
            "personas": [good(long, **{long: 1}), good("Jury", emoji=long, colour=long, model=long)],
        }
    )
    assert problems == [
        f"Unknown key '{'N' * 39}…' at the top level.",
        f"'version' must be 1; got '{'v' * 39}…'.",
        f"personas[0] ({'N' * 39}…): unknown key '{'N' * 39}…'.",
        "personas[1] (Jury): The emoji must be one emoji, like ⚖️ or a server emoji like <:gavel:123…>;"
        f" got '{'N' * 19}…'.",
        f"personas[1] (Jury): The model '{'N' * 39}…' isn't allowed here; choose one of:"
        " gemini-3.1-flash-lite, gemini-3.5-flash.",
        f"personas[1] (Jury): The colour must look like #RRGGBB, for example #E67E22; got '{'N' * 19}…'.",
    ]


def test_grounded_is_exported_only_when_set_and_read_back() -> None:
    grounded = Persona("Reporter", "📰", "You check every claim against the news.", 0x112233, grounded=True)
    document = json.loads(export_panel((JUDGE, grounded)))

    assert "grounded" not in document["personas"][0]
    assert document["personas"][1]["grounded"] is True
    assert import_panel(export_panel((JUDGE, grounded)), MODELS) == (JUDGE, grounded)
    assert (
        import_panel(
            json.dumps({"version": 1, "personas": [good(), good("Jury", grounded=False)]}).encode(), MODELS
        )[1].grounded
        is False
    )


def test_grounded_must_be_a_boolean() -> None:
    assert problems_of({"version": 1, "personas": [good(grounded="yes"), good("Jury", grounded=1)]}) == [
        "personas[0] (Judge): 'grounded' must be true or false.",
        "personas[1] (Jury): 'grounded' must be true or false.",
    ]


def test_grounding_is_turned_on_and_off_for_one_persona() -> None:
    panel = DEFAULT_PANEL
    on = with_grounding(panel, " droid analyst ", True)

    assert [p.grounded for p in on] == [False, False, False, True]
    assert on[3].name == "Droid Analyst"
    assert on[:3] == panel[:3]
    assert with_grounding(on, "Droid Analyst", False) == panel
    with pytest.raises(Invalid):
        with_grounding(panel, "Nobody", True)
