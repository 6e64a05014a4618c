"""A server's panel: the rules every change obeys, the export format, and the storage protocol."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.core.personas import DEFAULT_PANEL, Persona
from bot.core.text import QUOTE_LIMIT, one_line, quoted, truncate
from bot.core.translation import _
from bot.core.validation import Invalid, format_colour, make_persona, parse_colour

PANEL_MIN = 2
PANEL_MAX = 10
EXPORT_VERSION = 1
EXPORT_MAX_BYTES = 64 * 1024
EXPORT_MAX_NESTING = 8
"""Lists and objects inside one another that an import reads; an export nests 3 deep."""
PALETTE = (0xE67E22, 0x3498DB, 0x2ECC71, 0x9B59B6, 0xE74C3C, 0x1ABC9C, 0xF1C40F, 0x34495E, 0xE91E63, 0x95A5A6)

Panel = tuple[Persona, ...]


def key(name: str) -> str:
    """How names are compared: case-insensitively, blanks around ignored."""
    return name.strip().casefold()


def find(panel: Panel, name: str) -> Persona | None:
    return next((persona for persona in panel if key(persona.name) == key(name)), None)


def _require(panel: Panel, name: str) -> Persona:
    persona = find(panel, name)
    if persona is None:
        names = ", ".join(p.name for p in panel)
        message = _("There is no persona called {name} on this panel (it has: {names}).")
        raise Invalid(message.format(name=quoted(name.strip()), names=names))
    return persona


def free_colour(panel: Panel) -> int:
    """A palette colour no persona on the panel uses yet, for personas added without one."""
    used = {persona.colour for persona in panel}
    return next((colour for colour in PALETTE if colour not in used), PALETTE[len(panel) % len(PALETTE)])


def size_problems(count: int, *, in_file: bool = False) -> list[str]:
    """Why a panel of ``count`` personas (one a file holds, when ``in_file``) cannot be."""
    if PANEL_MIN <= count <= PANEL_MAX:
        return []
    if in_file:
        message = _("A panel holds {min} to {max} personas; the file has {count}.")
    else:
        message = _("A panel holds {min} to {max} personas; this one would have {count}.")
    return [message.format(min=PANEL_MIN, max=PANEL_MAX, count=count)]


def duplicate_problems(panel: Sequence[Persona]) -> list[str]:
    problems, seen = [], set()
    for persona in panel:
        if key(persona.name) in seen:
            message = _("Two personas are called {name}; names must differ (ignoring case).")
            problems.append(message.format(name=repr(persona.name)))
        seen.add(key(persona.name))
    return problems


def checked(panel: Sequence[Persona]) -> Panel:
    problems = size_problems(len(panel)) + duplicate_problems(panel)
    if problems:
        raise Invalid(*problems)
    return tuple(panel)


def with_added(panel: Panel, persona: Persona) -> Panel:
    clash = find(panel, persona.name)
    if clash is not None:
        message = _("There already is a persona called {name}; pick another name or edit it.")
        raise Invalid(message.format(name=repr(clash.name)))
    if len(panel) >= PANEL_MAX:
        message = _("The panel is full ({max} personas): remove one before adding another.")
        raise Invalid(message.format(max=PANEL_MAX))
    return checked((*panel, persona))


def with_replaced(panel: Panel, name: str, persona: Persona) -> Panel:
    old = _require(panel, name)
    clash = find(panel, persona.name)
    if clash is not None and clash is not old:
        message = _("There already is a persona called {name}; pick another name.")
        raise Invalid(message.format(name=repr(clash.name)))
    return checked(tuple(persona if p is old else p for p in panel))


def with_grounding(panel: Panel, name: str, grounded: bool) -> Panel:
    """The panel with the persona ``name`` answering with Google Search grounding, or no longer."""
    old = _require(panel, name)
    return tuple(dataclasses.replace(p, grounded=grounded) if p is old else p for p in panel)


def without(panel: Panel, name: str) -> Panel:
    old = _require(panel, name)
    if len(panel) <= PANEL_MIN:
        message = _("A panel needs at least {min} personas: add another before removing {name}.")
        raise Invalid(message.format(min=PANEL_MIN, name=old.name))
    return checked(tuple(p for p in panel if p is not old))


def persona_json(persona: Persona) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": persona.name,
        "emoji": persona.emoji,
        "instructions": persona.instructions,
        "colour": format_colour(persona.colour),
    }
    if persona.model is not None:
        data["model"] = persona.model
    if persona.grounded:
        data["grounded"] = True  # written only when set, so files without the key stay as they were
    return data


def persona_from_json(data: dict[str, Any]) -> Persona:
    """A persona as :func:`persona_json` stored it (trusted: it was validated when it was made)."""
    return Persona(
        data["name"],
        data["emoji"],
        data["instructions"],
        parse_colour(data["colour"]),
        data.get("model"),
        bool(data.get("grounded", False)),
    )


def export_panel(panel: Panel) -> bytes:
    """The panel in the export format (version 1), as pretty UTF-8 JSON."""
    document = {"version": EXPORT_VERSION, "personas": [persona_json(persona) for persona in panel]}
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode()


_TOP_KEYS = {"version", "personas"}
_TEXT_KEYS = {"name", "emoji", "instructions", "colour", "model"}
_PERSONA_KEYS = _TEXT_KEYS | {"grounded"}
_REQUIRED_KEYS = ("name", "emoji", "instructions")


def _persona_from_json(index: int, item: object, allowed_models: Sequence[str], colour: int) -> Persona:
    where = f"personas[{index}]"
    if not isinstance(item, dict):
        raise Invalid(_("{where} must be an object with name, emoji and instructions.").format(where=where))
    name = item.get("name")
    label = (
        f"{where} ({truncate(one_line(name), QUOTE_LIMIT)})"
        if isinstance(name, str) and name.strip()
        else where
    )
    problems = [
        _("{where}: unknown key {key}.").format(where=label, key=quoted(extra))
        for extra in sorted(set(item) - _PERSONA_KEYS)
    ]
    problems += [
        _("{where}: {key} is missing.").format(where=label, key=repr(field))
        for field in _REQUIRED_KEYS
        if field not in item
    ]
    problems += [
        _("{where}: {key} must be text.").format(where=label, key=repr(field))
        for field in sorted(_TEXT_KEYS & set(item))
        if not isinstance(item[field], str) and not (field == "model" and item[field] is None)
    ]
    if "grounded" in item and not isinstance(item["grounded"], bool):
        problems.append(_("{where}: 'grounded' must be true or false.").format(where=label))
    if problems:
        raise Invalid(*problems)
    try:
        return make_persona(
            name=item["name"],
            emoji=item["emoji"],
            instructions=item["instructions"],
            colour=item.get("colour"),
            model=item.get("model"),
            allowed_models=allowed_models,
            default_colour=colour,
            grounded=item.get("grounded", False),
        )
    except Invalid as error:
        raise Invalid(*(f"{label}: {problem}" for problem in error.problems)) from None


def nesting(text: str) -> int:
    """How deeply lists and objects nest in JSON ``text`` (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _shown(value: object) -> str:
    """A JSON value as a message quotes it: short, and never the whole of a list or an object."""
    if isinstance(value, list):
        return _("a list")
    if isinstance(value, dict):
        return _("an object")
    return quoted(value) if isinstance(value, str) else truncate(json.dumps(value), QUOTE_LIMIT)


def file_too_large(size: int) -> str:
    """Why a panel file of ``size`` bytes is refused."""
    return _("The file is {size} KiB; the limit is {limit} KiB.").format(
        size=f"{size / 1024:.0f}", limit=EXPORT_MAX_BYTES // 1024
    )


def import_panel(raw: bytes, allowed_models: Sequence[str]) -> Panel:
    """A panel from an export document, or :class:`Invalid` listing every problem found in it."""
    if len(raw) > EXPORT_MAX_BYTES:
        raise Invalid(file_too_large(len(raw)))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid(
            _("The file isn't UTF-8 text; export a panel with /persona export to see the format.")
        ) from None
    # Deep nesting would exhaust the parser's recursion long before it finds anything a panel needs.
    depth = nesting(text)
    if depth > EXPORT_MAX_NESTING:
        raise Invalid(
            _(
                "The file nests lists and objects {depth} levels deep; a panel file needs 3 "
                "(export a panel with /persona export to see the format)."
            ).format(depth=depth)
        )
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise Invalid(
            _("The file isn't valid JSON (line {line}, column {column}: {problem}).").format(
                line=error.lineno, column=error.colno, problem=error.msg
            )
        ) from None
    if not isinstance(document, dict):
        raise Invalid(
            _("The file must hold one JSON object: {shape}.").format(
                shape='{"version": 1, "personas": [...]}'
            )
        )
    problems = [
        _("Unknown key {key} at the top level.").format(key=quoted(extra))
        for extra in sorted(set(document) - _TOP_KEYS)
    ]
    version = document.get("version")
    if "version" not in document:
        problems.append(_("'version' is missing; it must be {version}.").format(version=EXPORT_VERSION))
    elif type(version) is not int or version != EXPORT_VERSION:
        message = _("'version' must be {version}; got {value}.")
        problems.append(message.format(version=EXPORT_VERSION, value=_shown(version)))
    items = document.get("personas")
    if not isinstance(items, list):
        raise Invalid(*problems, _("'personas' must be a list of personas."))
    personas: list[Persona] = []
    for index, item in enumerate(items):
        try:
            personas.append(_persona_from_json(index, item, allowed_models, PALETTE[index % len(PALETTE)]))
        except Invalid as error:
            problems += error.problems
    problems += size_problems(len(items), in_file=True) + duplicate_problems(personas)
    if problems:
        raise Invalid(*problems)
    return tuple(personas)


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """A server's own settings (moderators change them from Discord); ``None`` means the default."""

    moderator_role_id: int | None = None
    cooldown_s: int | None = None
    max_debates: int | None = None
    daily_token_budget: int | None = None
    retention_days: int | None = None
    """Debates started more than this many days ago are deleted daily; ``None`` keeps them."""
    language: str | None = None
    """The Discord locale code debates are held in; ``None``: each asker's own."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change to a server's panel or settings: who, when, what, and the state before and after."""

    at: datetime
    actor_id: int
    action: str
    summary: str
    before: Any = None
    after: Any = None


@dataclass(frozen=True, slots=True)
class StoredPanel:
    """A server's panel, and whether it is still the default one."""

    personas: Panel
    is_default: bool


class PanelStore(Protocol):
    """Durable per-server panels and settings. Every write is atomic and audited with its author."""

    async def panel(self, guild_id: int) -> StoredPanel: ...

    async def change_panel(
        self, guild_id: int, actor_id: int, action: str, change: PanelChange, summary: str = ""
    ) -> tuple[StoredPanel, StoredPanel]:
        """Apply ``change`` to the current panel atomically and audit it; returns (before, after)."""
        ...

    async def reset_panel(self, guild_id: int, actor_id: int) -> StoredPanel:
        """Back to the default panel; returns the panel as it was."""
        ...

    async def settings(self, guild_id: int) -> GuildSettings: ...

    async def set_moderator_role(
        self, guild_id: int, actor_id: int, role_id: int | None
    ) -> GuildSettings: ...

    async def update_settings(self, guild_id: int, actor_id: int, **changes: int | None) -> GuildSettings:
        """Change the limits (``cooldown_s``, ``max_debates``, ``daily_token_budget``), audited."""
        ...

    async def set_retention(self, guild_id: int, actor_id: int, days: int | None) -> GuildSettings:
        """Keep debates ``days`` days (``None``: keep them), audited."""
        ...

    async def set_language(self, guild_id: int, actor_id: int, language: str | None) -> GuildSettings:
        """Pin the language debates are held in (a Discord locale code), or ``None`` for each asker's own;
        audited."""
        ...

    async def audit_log(self, guild_id: int, limit: int = 20) -> list[AuditEntry]: ...


class PanelChange(Protocol):
    """A pure edit of a panel: returns the new panel or raises :class:`Invalid`."""

    def __call__(self, panel: Panel, /) -> Panel: ...


DEFAULT = StoredPanel(DEFAULT_PANEL, is_default=True)
