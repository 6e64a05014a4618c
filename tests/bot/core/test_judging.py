"""The fair judge's labels: anonymising names, writing them back, also mid-stream."""

from __future__ import annotations

import random

import pytest

from bot.core.judging import Labels, label_for, shuffled_order
from bot.core.personas import DEFAULT_PANEL

REBEL, IMPERIAL, CITIZEN, DROID = DEFAULT_PANEL
LABELS = Labels.for_order(DEFAULT_PANEL, (2, 0, 3, 1))  # A = Citizen, B = Rebel, C = Droid, D = Imperial


def test_labels_follow_the_reading_order() -> None:
    assert [LABELS.label_of(persona) for persona in (CITIZEN, REBEL, DROID, IMPERIAL)] == [
        "Persona A",
        "Persona B",
        "Persona C",
        "Persona D",
    ]
    assert label_for(9) == "Persona J"


def test_shuffled_orders_are_permutations_that_differ_across_seeds() -> None:
    orders = {shuffled_order(4, random.Random(seed)) for seed in range(20)}
    assert all(sorted(order) == [0, 1, 2, 3] for order in orders)
    assert len(orders) > 5


def test_names_in_an_answer_become_labels() -> None:
    text = "As the rebel pilot said, the IMPERIAL OFFICER is wrong; Rebel Pilots agree."
    assert LABELS.anonymised(text) == "As the Persona B said, the Persona D is wrong; Rebel Pilots agree."


def test_labels_become_names_with_their_emoji() -> None:
    text = (
        "## The crux\n**Persona A** and Persona D disagree; Persona Z is nobody; Personal A is not a label."
    )
    assert LABELS.named(text) == (
        "## The crux\n**🌍 Neutral Citizen** and 🛡️ Imperial Officer disagree; Persona Z is nobody; "
        "Personal A is not a label."
    )


@pytest.mark.parametrize("tail", ["P", "Pers", "Persona", "Persona ", "Persona B"])
def test_a_label_cut_between_chunks_is_held_back_until_it_ends(tail: str) -> None:
    assert LABELS.named("Both Persona A and " + tail, final=False) == "Both 🌍 Neutral Citizen and "
    assert LABELS.named("Both Persona A and " + tail, final=True).startswith("Both 🌍 Neutral Citizen and ")


def test_every_streamed_prefix_is_a_prefix_of_the_final_text() -> None:
    text = "Persona A holds firm. Persona B, Persona C and Persona D waver; a Person of note."
    final = LABELS.named(text)
    for end in range(len(text) + 1):
        assert final.startswith(LABELS.named(text[:end], final=False)), text[:end]


def test_a_word_ending_like_a_label_start_is_not_held_back() -> None:
    assert LABELS.named("Superpers", final=False) == "Superpers"
