"""Continuations of a finished debate: one more round of the same panel, or a follow-up question.

A continuation is a debate of its own, linked to the one it continues (its parent); together they form a
chain from the first debate (its root). Another round goes on from every earlier round of its segment
(the debates since the chain's last question: the root or a follow-up, and the rounds after it); a
follow-up question carries the debate it follows up as context.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from bot.core.personas import Persona
from bot.core.prompts import EarlierRound, HeardReply, PreviousDebate
from bot.core.records import StoredDebate, StoredReply
from bot.core.stances import Stance

MAX_CONTINUATIONS = 5
"""How many continuations one chain may have, whatever their kind."""


class ContinuationKind(StrEnum):
    ROUND = "round"
    FOLLOW_UP = "followup"


class ChainFull(Exception):
    """The chain already has :data:`MAX_CONTINUATIONS` continuations."""


class RoundTaken(Exception):
    """Another round of this debate was already asked for; ``latest`` is the chain's newest round of it."""

    def __init__(self, latest: int) -> None:
        super().__init__(f"debate {latest} already continues it")
        self.latest = latest


def _heard(panel: Sequence[Persona], reply: StoredReply) -> HeardReply | None:
    if reply.text is None or not 0 <= reply.position < len(panel):
        return None
    return HeardReply(panel[reply.position], reply.text, reply.cut_off, reply.stance or Stance.UNKNOWN)


def segment(chain: Sequence[StoredDebate]) -> list[StoredDebate]:
    """The chain's last question and the rounds that went on from it: from its last debate that is not
    another round, to its end."""
    start = len(chain) - 1
    while start > 0 and chain[start].summary.kind == ContinuationKind.ROUND:
        start -= 1
    return list(chain[start:])


def earlier_rounds(chain: Sequence[StoredDebate]) -> tuple[EarlierRound, ...]:
    """Every round of the chain's last segment, with each panellist's answer by position: what another
    round goes on from. ``chain``: root first, up to the debate being continued."""
    panel = chain[-1].panel
    by_round: dict[int, dict[int, HeardReply]] = {}
    for debate in segment(chain):
        for reply in debate.replies:
            heard = _heard(panel, reply)
            if heard is not None:
                by_round.setdefault(reply.round, {})[reply.position] = heard
    return tuple(
        EarlierRound(number, tuple(answers.get(index) for index in range(len(panel))))
        for number, answers in sorted(by_round.items())
    )


def finals(chain: Sequence[StoredDebate]) -> tuple[HeardReply | None, ...]:
    """Each panellist's final answer in the chain's last segment (its latest, whichever round)."""
    latest: dict[int, HeardReply] = {}
    for round_ in earlier_rounds(chain):
        for index, heard in enumerate(round_.replies):
            if heard is not None:
                latest[index] = heard
    return tuple(latest.get(index) for index in range(len(chain[-1].panel)))


def follow_up_context(chain: Sequence[StoredDebate]) -> PreviousDebate:
    """What a follow-up of the chain's last debate carries: its question, each panellist's final answer
    and its verdict."""
    last = chain[-1]
    return PreviousDebate(last.summary.question, finals(chain), last.verdict)


def context_of(chain: Sequence[StoredDebate]) -> PreviousDebate | None:
    """The context the chain's last segment was debated in: the debate its follow-up question followed
    up, or None when the segment starts at the root."""
    start = len(chain) - len(segment(chain))
    if chain[start].summary.kind != ContinuationKind.FOLLOW_UP or start == 0:
        return None
    return follow_up_context(chain[:start])


def rounds_so_far(chain: Sequence[StoredDebate]) -> int:
    """The number of the last round of the chain's last segment."""
    last = chain[-1]
    return max([last.summary.rounds, *(reply.round for reply in last.replies)])
