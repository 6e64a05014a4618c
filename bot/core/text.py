"""Text helpers for Discord: lengths as Discord counts them, splitting, quoting, escaping, mention removal."""

from __future__ import annotations

import re
import unicodedata

ELLIPSIS = "…"

_MENTION = re.compile(r"<(@[!&]?|#)\d+>|</[^<>:\n]{1,100}:\d+>")
_BROADCAST = re.compile(r"@(everyone|here)")
_MARKDOWN_SPECIALS = re.compile(r"([\\*_~`|\[\]<>])")
_LINE_START_MARKUP = re.compile(r"^(\s*)([#>-]|\d+\.)", re.MULTILINE)
_BLANK_RUN = re.compile(r"\s+")


def discord_length(text: str) -> int:
    """Length in UTF-16 code units: never less than what Discord counts, so limits hold either way."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le", "surrogatepass")) // 2


def _is_joiner(char: str) -> bool:
    """Whether ``char`` binds to the character before it (combining marks, ZWJ, variation selectors)."""
    is_skin_tone = "\U0001f3fb" <= char <= "\U0001f3ff"
    return char in "\u200d\ufe0e\ufe0f" or unicodedata.combining(char) != 0 or is_skin_tone


def _prefix_fitting(text: str, limit: int) -> int:
    """Number of leading characters of ``text`` whose Discord length is at most ``limit``."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def _is_regional_indicator(char: str) -> bool:
    return "\U0001f1e6" <= char <= "\U0001f1ff"


def _grapheme_safe_cut(text: str, cut: int) -> int:
    """Move ``cut`` (0 < cut < len(text)) left until it does not fall inside an emoji or combined sequence."""
    while cut > 1 and (_is_joiner(text[cut]) or text[cut - 1] == "\u200d"):
        cut -= 1
    if cut > 1 and _is_regional_indicator(text[cut]):
        run = 0
        while run < cut and _is_regional_indicator(text[cut - 1 - run]):
            run += 1
        if run % 2 == 1:
            cut -= 1
    return cut


_BREAKS = ("\n\n", "\n", ". ", "! ", "? ", "; ", ", ", " ")


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into pieces of Discord length ≤ ``limit`` whose concatenation is exactly ``text``.

    Breaks after a paragraph, line, sentence, clause or word when one falls in the last half of a piece;
    otherwise cuts between characters, never inside an emoji sequence or before a combining mark.
    """
    if limit < 2:
        raise ValueError("limit must allow at least one character")
    pieces: list[str] = []
    rest = text
    while discord_length(rest) > limit:
        cut = _prefix_fitting(rest, limit)
        window = rest[:cut]
        for separator in _BREAKS:
            found = window.rfind(separator)
            if found >= cut // 2:
                cut = found + len(separator)
                break
        else:
            cut = _grapheme_safe_cut(rest, cut)
        pieces.append(rest[:cut])
        rest = rest[cut:]
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def truncate(text: str, limit: int) -> str:
    """``text`` cut to Discord length ``limit``, marked with an ellipsis when something was cut."""
    if discord_length(text) <= limit:
        return text
    return text[: _prefix_fitting(text, limit - 1)].rstrip() + ELLIPSIS


QUOTE_LIMIT = 40
"""Characters of a member's own value that a message quotes back to them."""


def quoted(value: str, limit: int = QUOTE_LIMIT) -> str:
    """``value`` in quotes for a message about it, cut to ``limit`` characters (an ellipsis marks a cut)."""
    return repr(truncate(value, limit))


def overflow(text: str, limit: int, note: str) -> tuple[str, str | None]:
    """``text`` as a message of Discord length ≤ ``limit``, and what must go in an attachment instead.

    Text that fits is returned whole with no attachment. Otherwise the message is the leading whole lines
    that fit followed by ``note`` (which should point to the attachment), and the attachment is all of
    ``text``. ``limit`` must leave room for ``note`` and a few characters more.
    """
    if discord_length(text) <= limit:
        return text, None
    room = limit - discord_length(note)  # for lines, each followed by a line break
    if room < 3:
        raise ValueError("limit must leave room for the note")
    kept: list[str] = []
    used = 0
    for line in text.splitlines():
        used += discord_length(line) + 1
        if used > room:
            break
        kept.append(line)
    head = "\n".join(kept) if kept else truncate(text, room - 1)
    return f"{head}\n{note}", text


# A masked link, ``[text](url)``, ``[text](<url>)`` or with a title after the URL; the URL may hold one
# level of parentheses, as Wikipedia's do.
_MASKED_LINK = re.compile(
    r"\[(?P<text>[^\[\]]{0,1000})\]\(\s*<?(?P<url>(?:[^\s()<>]|\([^\s()<>]*\))+)>?"
    r"(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
)
_LINK_JOIN = "]("
_REVEAL_ROUNDS = 4


def reveal_links(text: str) -> str:
    """Masked links written out, ``[text](url)`` → ``text (url)``, so that every link shows where it goes.

    Revealing an inner link can complete an outer one, ``[[a](b)](c)``, so this goes a few rounds; any
    ``](`` left after them (a link nested deeper, or one this does not recognise) gets a zero-width space
    between its brackets, which Discord does not read as a link.
    """
    for _round in range(_REVEAL_ROUNDS):
        revealed = _MASKED_LINK.sub(
            lambda link: f"{link['text']} ({link['url']})" if link["text"].strip() else link["url"], text
        )
        if revealed == text:
            break
        text = revealed
    return text.replace(_LINK_JOIN, "]\u200b(")


def neutralise_mentions(text: str) -> str:
    """Make user, role, channel and broadcast mentions inert and visibly plain (a zero-width space)."""
    text = _BROADCAST.sub("@\u200b\\1", text)
    return _MENTION.sub(lambda match: match.group(0)[0] + "\u200b" + match.group(0)[1:], text)


def escape_markdown(text: str) -> str:
    """Escape Discord markdown so user text shows literally inside bot messages."""
    text = _MARKDOWN_SPECIALS.sub(r"\\\1", text)
    return _LINE_START_MARKUP.sub(r"\1\\\2", text)


def strip_mentions(text: str) -> str:
    """Remove mentions entirely (for places that must not even look like one, such as thread names)."""
    while True:
        stripped = _BROADCAST.sub(r"\1", _MENTION.sub("", text))
        if stripped == text:
            return text
        text = stripped  # removing one mention can join the text around it into another


def one_line(text: str) -> str:
    """Collapse every run of whitespace, newlines included, into one space."""
    return _BLANK_RUN.sub(" ", text).strip()
