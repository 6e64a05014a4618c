"""The language-model protocol the core depends on; ``bot.gemini`` implements it for Gemini."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens billed for one or more calls. ``output`` is the answer; ``thoughts`` the model's thinking,
    billed as output tokens too."""

    prompt: int = 0
    output: int = 0
    thoughts: int = 0

    @property
    def total(self) -> int:
        return self.prompt + self.output + self.thoughts

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.prompt + other.prompt, self.output + other.output, self.thoughts + other.thoughts
        )


class Thinking(StrEnum):
    """How much a model thinks before answering (Gemini's thinking levels)."""

    MINIMAL = "minimal"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


THINKING_ALLOWANCE: dict[Thinking, int] = {
    Thinking.MINIMAL: 1024,
    Thinking.LOW: 4096,
    Thinking.MEDIUM: 12288,
    Thinking.HIGH: 32768,
}
"""Output tokens set aside for thinking at each level, above the budget a level asks for (a model may
think past its budget). Thought tokens count against a request's ``maxOutputTokens``, so an answer's own
budget comes on top of this."""


def output_budget(answer_tokens: int, thinking: Thinking) -> int:
    """``maxOutputTokens`` for an answer of up to ``answer_tokens`` written after ``thinking``."""
    return answer_tokens + THINKING_ALLOWANCE[thinking]


class FinishReason(StrEnum):
    """Why the model stopped writing."""

    STOP = "stop"
    MAX_TOKENS = "max_tokens"


@dataclass(frozen=True, slots=True)
class Source:
    """A web page an answer was grounded in: its title (often the site's domain) and its address."""

    title: str
    uri: str


@dataclass(frozen=True, slots=True)
class Grounding:
    """What Google Search grounding returned with an answer.

    ``sources``: the web pages used, in the order the model listed them; ``queries``: the searches it
    ran, which are also the Google Search suggestions that must be shown with the answer;
    ``suggestions_html``: Google's own rendering of those suggestions (HTML and CSS for a web page).
    """

    sources: tuple[Source, ...] = ()
    queries: tuple[str, ...] = ()
    suggestions_html: str = ""


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """One prompt: the system instruction, the user content, and the budget for answering it.

    ``response_schema``: a JSON Schema the answer must follow; the answer's text is then that JSON.
    ``grounded``: the model may search Google and ground its answer in what it finds.
    """

    model: str
    system: str
    prompt: str
    timeout_s: float
    max_output_tokens: int | None = None
    temperature: float | None = None
    thinking: Thinking | None = None
    response_schema: Mapping[str, object] | None = None
    grounded: bool = False


@dataclass(frozen=True, slots=True)
class Completion:
    """A model's answer. While streaming, ``text`` is the text so far and ``finish`` is ``None``.

    ``grounding``: what Google Search grounding returned (None when the answer was not grounded)."""

    text: str
    model: str
    usage: TokenUsage = TokenUsage()
    finish: FinishReason | None = FinishReason.STOP
    attempts: int = 1
    grounding: Grounding | None = None

    @property
    def cut_off(self) -> bool:
        """Whether the model hit its output limit before finishing."""
        return self.finish is FinishReason.MAX_TOKENS


class FailureKind(StrEnum):
    """Families of failure, for decisions (retry, budget) rather than for display."""

    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXHAUSTED = "quota_exhausted"
    UNAVAILABLE = "unavailable"
    BLOCKED = "blocked"
    EMPTY = "empty"
    REJECTED = "rejected"
    NETWORK = "network"


class LLMFailure(Exception):
    """A call that produced no usable text. ``reason`` is short, lower-case and safe to show users."""

    def __init__(
        self, reason: str, *, kind: FailureKind, attempts: int = 1, usage: TokenUsage = TokenUsage()
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.attempts = attempts
        self.usage = usage


class LLM(Protocol):
    """What the debate engine needs from a model provider.

    Implementations retry transient faults within ``request.timeout_s`` and raise :class:`LLMFailure`
    with a user-facing reason for everything else.
    """

    async def generate(self, request: LLMRequest) -> Completion:
        """The whole answer at once."""
        ...

    def stream(self, request: LLMRequest) -> AsyncGenerator[Completion, None]:
        """Cumulative snapshots of the answer as it is written; the last has ``finish`` set."""
        ...
