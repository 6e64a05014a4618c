"""Logging set-up, and a filter that keeps tokens and API keys out of every log line, even at DEBUG."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import sys
from collections.abc import Iterable, Iterator

REDACTED = "[redacted]"
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s%(debate)s: %(message)s"
"""``debate``: `` debate=42`` on the lines logged while debate 42 runs, else empty (:class:`DebateFilter`)."""

_current_debate: contextvars.ContextVar[int | None] = contextvars.ContextVar("parley_debate", default=None)


@contextlib.contextmanager
def logging_for_debate(record_id: int) -> Iterator[None]:
    """Inside, this task and the tasks it starts log as debate ``record_id``."""
    token = _current_debate.set(record_id)
    try:
        yield
    finally:
        _current_debate.reset(token)


class DebateFilter(logging.Filter):
    """Sets ``record.debate`` to `` debate=<id>`` for lines logged inside :func:`logging_for_debate`, else
    to ``""``. Attach it to a handler (see :class:`RedactingFilter` for why)."""

    def filter(self, record: logging.LogRecord) -> bool:
        debate = _current_debate.get()
        record.debate = "" if debate is None else f" debate={debate}"
        return True


# (triggers, pattern): a pattern is only run on text that contains one of its triggers (in lower case).
# Each pattern's first group is the context that stays; what follows it is the secret that goes.
_RULES: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = (
    # interaction tokens in webhook and callback URL paths (ids are digits, so route templates stay readable)
    (("/webhooks/",), re.compile(r"(/webhooks/\d+/)[^/\s?#'\"]+")),
    (("/interactions/",), re.compile(r"(/interactions/\d+/)[^/\s?#'\"]+")),
    # quoted values of fields named token or *_token: JSON, dict reprs, dataclass reprs
    (("token",), re.compile(r"""(token\\?['"]?\s*[:=]\s*\\?['"])[^'"\\]+""", re.IGNORECASE)),
    # header values, raw or in a dict repr: "Authorization: Bot …", "'x-goog-api-key': '…'"
    (
        ("authorization",),
        re.compile(r"""(authorization['"]?\s*[:=]\s*['"]?(?:(?:bot|bearer|basic)\s+)?)[^\s'",;}]+""", re.I),
    ),
    (("x-goog-api-key",), re.compile(r"""(x-goog-api-key['"]?\s*[:=]\s*['"]?)[^\s'",;}]+""", re.I)),
    # query parameters: ?key=…, &api_key=…, &token=…, &access_token=…
    (("key=", "token="), re.compile(r"""([?&](?:key|api_?key|(?:access_)?token)=)[^&\s#'"]+""", re.I)),
)


class RedactingFilter(logging.Filter):
    """Rewrites each record so that no known secret, interaction token, auth header or API key shows.

    Attach it to a handler, not a logger: a handler's filters see the records of every logger that
    reaches it, while a logger's own filters skip the records propagated from its children.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # longest first, so that a secret containing another one is replaced whole
        self._secrets = tuple(sorted({secret for secret in secrets if secret}, key=len, reverse=True))

    def redact(self, text: str) -> str:
        """``text`` with every known secret, token and key replaced by ``[redacted]``."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        lowered = text.lower()
        for triggers, pattern in _RULES:
            if any(trigger in lowered for trigger in triggers):
                text = pattern.sub(rf"\g<1>{REDACTED}", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: still show what was logged, and still redacted
            message = f"{record.msg!s} (unformattable arguments: {record.args!r})"
        record.msg, record.args = self.redact(message), ()
        if record.exc_info and not record.exc_text:
            # the text Formatter.format would cache, made here so that what is cached is redacted
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def configure_logging(level: str, secrets: Iterable[str]) -> None:
    """Log at ``level`` to stderr through one handler that redacts ``secrets`` and tokens for every logger."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter(secrets))
    handler.addFilter(DebateFilter())
    logging.basicConfig(level=level, format=LOG_FORMAT, handlers=[handler], force=True)
    if level != "DEBUG":
        # Alembic announces each of its plugins at INFO on every start; only its warnings matter here.
        logging.getLogger("alembic").setLevel(logging.WARNING)
