"""Reading a persona's structured answer: never a lost answer, never raw JSON."""

from __future__ import annotations

import json

import pytest

from bot.core.stances import ANSWER_SCHEMA, KEY_CLAIM_LIMIT, Stance, read_answer, tally


def document(**fields: object) -> str:
    answer: dict[str, object] = {
        "stance": "against",
        "confidence": 0.7,
        "key_claim": "Too many died.",
        "answer": "It was a massacre.",
    }
    answer.update(fields)
    return json.dumps(answer)


def test_a_well_formed_answer_gives_its_stance_confidence_and_claim() -> None:
    answer = read_answer(document())
    assert answer.readable
    assert answer.text == "It was a massacre."
    assert answer.stance is Stance.AGAINST
    assert answer.confidence == 0.7
    assert answer.key_claim == "Too many died."


def test_the_schema_asks_for_exactly_what_is_read_with_the_answer_last() -> None:
    properties = ANSWER_SCHEMA["properties"]
    assert isinstance(properties, dict)
    assert list(properties) == ["stance", "confidence", "key_claim", "answer"]
    assert properties["stance"]["enum"] == ["for", "against", "mixed", "unsure"]
    assert ANSWER_SCHEMA["required"] == list(properties)


@pytest.mark.parametrize(
    ("fields", "stance", "confidence", "claim"),
    [
        ({"stance": "FOR "}, Stance.FOR, 0.7, "Too many died."),
        ({"stance": "maybe"}, Stance.UNKNOWN, 0.7, "Too many died."),
        ({"stance": 3}, Stance.UNKNOWN, 0.7, "Too many died."),
        ({"confidence": 1.7}, Stance.AGAINST, 1.0, "Too many died."),
        ({"confidence": -2}, Stance.AGAINST, 0.0, "Too many died."),
        ({"confidence": True}, Stance.AGAINST, None, "Too many died."),
        ({"confidence": "high"}, Stance.AGAINST, None, "Too many died."),
        ({"key_claim": "  "}, Stance.AGAINST, 0.7, None),
        ({"key_claim": "one\nline"}, Stance.AGAINST, 0.7, "one line"),
    ],
)
def test_odd_fields_are_read_as_unknown_or_clamped(
    fields: dict[str, object], stance: Stance, confidence: float | None, claim: str | None
) -> None:
    answer = read_answer(document(**fields))
    assert answer.text == "It was a massacre."
    assert (answer.stance, answer.confidence, answer.key_claim) == (stance, confidence, claim)


def test_a_long_key_claim_is_cut_to_its_limit() -> None:
    answer = read_answer(document(key_claim="x" * 1000))
    assert answer.key_claim is not None
    assert len(answer.key_claim) == KEY_CLAIM_LIMIT


def test_an_answer_cut_off_inside_its_text_keeps_the_text_with_an_unknown_stance() -> None:
    full = document(answer='He said "never" \u2014 and\nthen \U0001f680 flew.')
    for cut in range(full.index('"answer"') + 12, len(full) - 1):
        answer = read_answer(full[:cut])
        assert not answer.readable
        assert answer.stance is Stance.UNKNOWN
        assert 'He said "never" \u2014 and\nthen \U0001f680 flew.'.startswith(answer.text), full[:cut]
        assert "{" not in answer.text


def test_escaped_characters_are_decoded_in_a_cut_answer() -> None:
    cut = '{"stance": "for", "answer": "caf\\u00e9 \\ud83d\\ude80 \\"quoted\\" back\\\\slash and \\u00'
    assert read_answer(cut).text == 'café 🚀 "quoted" back\\slash and '


def test_a_reply_that_is_not_json_is_the_answer_itself() -> None:
    answer = read_answer("I just answered in prose, ignoring the schema.")
    assert answer.text == "I just answered in prose, ignoring the schema."
    assert answer.stance is Stance.UNKNOWN
    assert not answer.readable


@pytest.mark.parametrize(
    "reply",
    ['{"stance": "for"}', '{"stance": "for", "answer": 42}', "[1, 2]", '{"stance": "fo', "{"],
)
def test_json_without_an_answer_gives_no_text_rather_than_raw_json(reply: str) -> None:
    answer = read_answer(reply)
    assert answer.text == ""
    assert answer.stance is Stance.UNKNOWN


def test_the_tally_counts_each_stance_in_badge_order() -> None:
    counts = tally([Stance.AGAINST, Stance.FOR, Stance.AGAINST, Stance.UNKNOWN])
    assert list(counts.items()) == [(Stance.FOR, 1), (Stance.AGAINST, 2), (Stance.UNKNOWN, 1)]
