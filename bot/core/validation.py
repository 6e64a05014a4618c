"""Validation of what members type, with messages written for them."""

from __future__ import annotations

QUESTION_MAX_LENGTH = 1000


class Invalid(ValueError):
    """Input that cannot be used; the message says why, for the member who typed it."""


def check_question(question: str) -> str:
    """The question, stripped; refuses blank and over-long ones."""
    question = question.strip()
    if not question:
        raise Invalid("The question is empty: ask the panel something.")
    if len(question) > QUESTION_MAX_LENGTH:
        raise Invalid(f"The question is {len(question)} characters long; the limit is {QUESTION_MAX_LENGTH}.")
    return question
