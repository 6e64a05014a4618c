"""Message and modal components: Discord's request rules, and the numeric ``id`` it gives every component.

Sources: Discord's OpenAPI spec, github.com/discord/discord-api-spec at commit
74fda0fad044407ea280043a03ffc9bc64c4e49e (``specs/openapi.json``, schemas named per rule below), and the
developer docs, https://discord.com/developers/docs/components/reference (docs repo commit
c98d64bc233833839cf0d8d369e81b77f21ade60). Where the two disagree the stricter documented limit is used.

Every 400 is Discord's 50035 "Invalid Form Body" with the nested ``errors`` tree. The leaf codes
``UNION_TYPE_CHOICES``, ``COMPONENT_CUSTOM_ID_DUPLICATED`` and ``COMPONENT_LAYOUT_WIDTH_EXCEEDED`` and the
generic ``BASE_TYPE_*``/``NUMBER_TYPE_*`` ones are what Discord answers; the few other leaf codes here
(marked "leaf code unconfirmed") name the rule in Discord's style, but their exact wording is not published.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, TypeGuard

from .errors import FormErrors

Path = list[str | int]
JSON = dict[str, Any]

ACTION_ROW = 1
BUTTON = 2
STRING_SELECT = 3
TEXT_INPUT = 4
USER_SELECT = 5
ROLE_SELECT = 6
MENTIONABLE_SELECT = 7
CHANNEL_SELECT = 8
SECTION = 9
TEXT_DISPLAY = 10
THUMBNAIL = 11
MEDIA_GALLERY = 12
FILE = 13
SEPARATOR = 14
CONTAINER = 17
LABEL = 18
FILE_UPLOAD = 19
RADIO_GROUP = 21
CHECKBOX_GROUP = 22
CHECKBOX = 23

SELECTS = (STRING_SELECT, USER_SELECT, ROLE_SELECT, MENTIONABLE_SELECT, CHANNEL_SELECT)
# Spec ActionRowComponentForMessageRequest/properties/components/items: buttons and the five selects.
ACTION_ROW_CHILDREN = (BUTTON, *SELECTS)
# Spec MessageCreateRequest/properties/components/items (oneOf, with IS_COMPONENTS_V2).
V2_TOP_LEVEL = (ACTION_ROW, SECTION, TEXT_DISPLAY, MEDIA_GALLERY, FILE, SEPARATOR, CONTAINER)
# Docs "Legacy Message Component Behavior": without IS_COMPONENTS_V2, up to 5 action rows only.
LEGACY_TOP_LEVEL = (ACTION_ROW,)
LEGACY_ROWS_MAX = 5
# Docs components/overview: "Messages allow up to 40 total components" (nested ones counted).
V2_COMPONENTS_MAX = 40
# Spec ContainerComponentForMessageRequest/properties/components/items.
CONTAINER_CHILDREN = (ACTION_ROW, FILE, MEDIA_GALLERY, SECTION, SEPARATOR, TEXT_DISPLAY)
# Spec ModalInteractionCallbackRequestData/properties/components/items and LabelComponentForModalRequest.
MODAL_TOP_LEVEL = (ACTION_ROW, LABEL, TEXT_DISPLAY)
LABEL_CHILDREN = (
    TEXT_INPUT,
    *SELECTS,
    FILE_UPLOAD,
    RADIO_GROUP,
    CHECKBOX_GROUP,
    CHECKBOX,
)
# Spec ButtonStyleTypes: primary, secondary, success, danger, link, premium.
BUTTON_STYLES = (1, 2, 3, 4, 5, 6)
LINK, PREMIUM = 5, 6
# Spec TextInputStyleTypes: short, paragraph.
TEXT_INPUT_STYLES = (1, 2)
# Spec MessageComponentSeparatorSpacingSize: small, large.
SEPARATOR_SPACINGS = (1, 2)
# Spec */properties/id: {"type": ["integer", "null"], "minimum": 0, "format": "int32"}.
ID_MAX = 2**31 - 1


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _union_choice(errors: FormErrors, path: Path, allowed: tuple[int, ...]) -> None:
    """Discord's answer to a component of a type not allowed where it stands (``UNION_TYPE_CHOICES``)."""
    rendered = ", ".join(str(a) for a in allowed)
    errors.add(path, "UNION_TYPE_CHOICES", f'Value of field "type" must be one of ({rendered}).')


def _string(
    errors: FormErrors, path: Path, value: object, high: int, *, low: int = 0, required: bool = False
) -> None:
    if value is None:
        if required:
            errors.required(path)
        return
    if not isinstance(value, str):
        errors.wrong_type(path, "string")
    elif low and not low <= len(value) <= high:
        errors.bad_length(path, low, high)
    elif len(value) > high:
        errors.max_length(path, high)


def _integer(errors: FormErrors, path: Path, value: object, low: int, high: int) -> None:
    if value is None:
        return
    if not _is_int(value):
        errors.wrong_type(path, "int")
    elif value < low:
        errors.add(path, "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {low}.")
    elif value > high:
        errors.add(path, "NUMBER_TYPE_MAX", f"int value should be less than or equal to {high}.")


def _boolean(errors: FormErrors, path: Path, value: object) -> None:
    if value is not None and not isinstance(value, bool):
        errors.wrong_type(path, "boolean")


def _list(
    errors: FormErrors, path: Path, value: object, low: int, high: int, *, required: bool = True
) -> list[Any]:
    """A list of ``low``–``high`` items (BASE_TYPE_BAD_LENGTH otherwise); [] when unusable."""
    if value is None:
        if required:
            errors.required(path)
        return []
    if not isinstance(value, list):
        errors.wrong_type(path, "array")
        return []
    if not low <= len(value) <= high:
        errors.bad_length(path, low, high)
    return value


def _media(errors: FormErrors, path: Path, value: object) -> None:
    # Spec UnfurledMediaRequest: {"url": string, maxLength 2048} required.
    if not isinstance(value, dict):
        errors.required(path)
        return
    _string(errors, [*path, "url"], value.get("url"), 2048, low=1, required=True)


class _Walk:
    """One validation pass over a component tree: custom ids and explicit ids must be unique."""

    def __init__(self, errors: FormErrors) -> None:
        self.errors = errors
        self.custom_ids: set[str] = set()
        self.ids: set[int] = set()
        self.count = 0

    def common(self, path: Path, comp: JSON) -> None:
        self.count += 1
        cid = comp.get("id")
        if cid is not None:
            # Spec */properties/id: integer >= 0, int32; docs "Anatomy of a Component": unique in the message.
            _integer(self.errors, [*path, "id"], cid, 0, ID_MAX)
            if _is_int(cid) and cid:
                if cid in self.ids:
                    self.errors.add(
                        [*path, "id"],
                        "COMPONENT_ID_DUPLICATED",  # leaf code unconfirmed
                        "Component id cannot be duplicated",
                    )
                self.ids.add(cid)

    def custom_id(self, path: Path, value: object, *, required: bool = True) -> None:
        # Docs "Anatomy of a Component" > Custom ID: 1-100 characters, unique per message.
        _string(self.errors, path, value, 100, low=1, required=required)
        if isinstance(value, str):
            if value in self.custom_ids:
                self.errors.add(
                    path, "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated"
                )
            self.custom_ids.add(value)

    # ---- interactive components ------------------------------------------------------------------

    def button(self, path: Path, comp: JSON) -> None:
        """Spec ButtonComponentForMessageRequest; docs components/reference#button."""
        e = self.errors
        style = comp.get("style")
        if style is None:
            e.required([*path, "style"])
        elif style not in BUTTON_STYLES:
            e.choices([*path, "style"], BUTTON_STYLES)
        _string(e, [*path, "label"], comp.get("label"), 80)  # docs: max 80 characters
        _string(e, [*path, "url"], comp.get("url"), 512)  # docs: max 512 (spec response allows 2048)
        _boolean(e, [*path, "disabled"], comp.get("disabled"))
        if style == LINK:
            # Docs: link buttons must have a url and cannot have a custom_id.
            if comp.get("url") is None:
                e.required([*path, "url"])
            if comp.get("custom_id") is not None:
                e.add(
                    [*path, "custom_id"],
                    "BUTTON_COMPONENT_CUSTOM_ID_INVALID",  # leaf code unconfirmed
                    "A custom id cannot be set on a link button",
                )
        elif style == PREMIUM:
            # Docs: premium buttons must have a sku_id and no custom_id, label, url or emoji.
            if comp.get("sku_id") is None:
                e.required([*path, "sku_id"])
            for key in ("custom_id", "label", "url", "emoji"):
                if comp.get(key) is not None:
                    e.add(
                        [*path, key],
                        "BUTTON_COMPONENT_INVALID_FIELD",  # leaf code unconfirmed
                        f"A premium button cannot have a {key}",
                    )
        elif style in BUTTON_STYLES:
            # Docs: non-link, non-premium buttons must have a custom_id and cannot have a url or sku_id.
            self.custom_id([*path, "custom_id"], comp.get("custom_id"))
            if comp.get("url") is not None:
                e.add(
                    [*path, "url"],
                    "BUTTON_COMPONENT_URL_INVALID",  # leaf code unconfirmed
                    "A url can only be set on a link button",
                )
        if style in (LINK, PREMIUM) and isinstance(comp.get("custom_id"), str):
            self.custom_ids.add(comp["custom_id"])

    def select(self, path: Path, comp: JSON) -> None:
        """Spec StringSelectComponentForMessageRequest (and User/Role/Mentionable/ChannelSelect…)."""
        e = self.errors
        self.custom_id([*path, "custom_id"], comp.get("custom_id"))
        _string(e, [*path, "placeholder"], comp.get("placeholder"), 150)
        _integer(e, [*path, "min_values"], comp.get("min_values"), 0, 25)
        _integer(e, [*path, "max_values"], comp.get("max_values"), 1, 25)
        _boolean(e, [*path, "disabled"], comp.get("disabled"))
        low, high = comp.get("min_values"), comp.get("max_values")
        if _is_int(low) and _is_int(high) and low > high:
            e.add(
                [*path, "min_values"],
                "SELECT_COMPONENT_MIN_VALUES_INVALID",  # leaf code unconfirmed
                "min_values must be less than or equal to max_values",
            )
        if comp.get("type") == STRING_SELECT:
            # Spec StringSelectOptionForRequest: label/value 1-100 (required), description <= 100.
            options = _list(e, [*path, "options"], comp.get("options"), 1, 25)
            values: set[str] = set()
            for i, opt in enumerate(options):
                opath: Path = [*path, "options", i]
                if not isinstance(opt, dict):
                    e.add(opath, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
                    continue
                _string(e, [*opath, "label"], opt.get("label"), 100, low=1, required=True)
                _string(e, [*opath, "value"], opt.get("value"), 100, low=1, required=True)
                _string(e, [*opath, "description"], opt.get("description"), 100)
                _boolean(e, [*opath, "default"], opt.get("default"))
                value = opt.get("value")
                if isinstance(value, str):
                    if value in values:
                        e.add(
                            [*opath, "value"],
                            "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED",  # leaf code unconfirmed
                            "Select options cannot have duplicate values",
                        )
                    values.add(value)
            if _is_int(high) and options and high > len(options):
                e.add(
                    [*path, "max_values"],
                    "SELECT_COMPONENT_MAX_VALUES_INVALID",  # leaf code unconfirmed
                    "max_values cannot exceed the number of options",
                )
        else:
            _list(e, [*path, "default_values"], comp.get("default_values"), 0, 25, required=False)

    def text_input(self, path: Path, comp: JSON) -> None:
        """Spec TextInputComponentForModalRequest; docs components/reference#text-input."""
        e = self.errors
        self.custom_id([*path, "custom_id"], comp.get("custom_id"))
        style = comp.get("style")
        if style is None:
            e.required([*path, "style"])
        elif style not in TEXT_INPUT_STYLES:
            e.choices([*path, "style"], TEXT_INPUT_STYLES)
        # Docs: a Text Input's own label is deprecated in favour of Label's, but still 1-45 when sent.
        _string(e, [*path, "label"], comp.get("label"), 45, low=1)
        _string(e, [*path, "value"], comp.get("value"), 4000)  # value: max 4000
        _string(e, [*path, "placeholder"], comp.get("placeholder"), 100)  # placeholder: max 100
        _integer(e, [*path, "min_length"], comp.get("min_length"), 0, 4000)
        _integer(e, [*path, "max_length"], comp.get("max_length"), 1, 4000)
        _boolean(e, [*path, "required"], comp.get("required"))
        low, high = comp.get("min_length"), comp.get("max_length")
        if _is_int(low) and _is_int(high) and low > high:
            e.add(
                [*path, "min_length"],
                "TEXT_INPUT_MIN_LENGTH_INVALID",  # leaf code unconfirmed
                "min_length must be less than or equal to max_length",
            )

    # ---- layout and content ----------------------------------------------------------------------

    def action_row(self, path: Path, comp: JSON, *, modal: bool) -> None:
        """Spec ActionRowComponentForMessageRequest / ActionRowComponentForModalRequest: 1-5 children."""
        e = self.errors
        children = _list(e, [*path, "components"], comp.get("components"), 1, 5)
        allowed = (TEXT_INPUT,) if modal else ACTION_ROW_CHILDREN
        types = [c.get("type") for c in children if isinstance(c, dict)]
        for i, child in enumerate(children):
            cpath: Path = [*path, "components", i]
            if not isinstance(child, dict):
                e.add(cpath, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
                continue
            ctype = child.get("type")
            if ctype not in allowed:
                _union_choice(e, cpath, allowed)
                continue
            self.common(cpath, child)
            if ctype == BUTTON:
                self.button(cpath, child)
            elif ctype == TEXT_INPUT:
                self.text_input(cpath, child)
            else:
                self.select(cpath, child)
        # Docs "Action Row": up to 5 buttons, or a single select.
        if any(t in SELECTS for t in types) and len(types) > 1:
            e.add(
                [*path, "components"],
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )

    def text_display(self, path: Path, comp: JSON) -> None:
        # Spec TextDisplayComponentForMessageRequest / ForModalRequest: content 1-4000, required.
        _string(self.errors, [*path, "content"], comp.get("content"), 4000, low=1, required=True)

    def section(self, path: Path, comp: JSON) -> None:
        """Spec SectionComponentForMessageRequest: 1-3 text displays and a button or thumbnail accessory."""
        e = self.errors
        for i, child in enumerate(_list(e, [*path, "components"], comp.get("components"), 1, 3)):
            cpath: Path = [*path, "components", i]
            if not isinstance(child, dict) or child.get("type") != TEXT_DISPLAY:
                _union_choice(e, cpath, (TEXT_DISPLAY,))
                continue
            self.common(cpath, child)
            self.text_display(cpath, child)
        accessory = comp.get("accessory")
        apath: Path = [*path, "accessory"]
        if accessory is None:
            e.required(apath)
        elif not isinstance(accessory, dict) or accessory.get("type") not in (BUTTON, THUMBNAIL):
            _union_choice(e, apath, (BUTTON, THUMBNAIL))
        else:
            self.common(apath, accessory)
            if accessory["type"] == BUTTON:
                self.button(apath, accessory)
            else:
                self.thumbnail(apath, accessory)

    def thumbnail(self, path: Path, comp: JSON) -> None:
        # Spec ThumbnailComponentForMessageRequest: media required, description 1-1024.
        _media(self.errors, [*path, "media"], comp.get("media"))
        _string(self.errors, [*path, "description"], comp.get("description"), 1024, low=1)
        _boolean(self.errors, [*path, "spoiler"], comp.get("spoiler"))

    def media_gallery(self, path: Path, comp: JSON) -> None:
        # Spec MediaGalleryComponentForMessageRequest: 1-10 items, each MediaGalleryItemRequest.
        for i, item in enumerate(_list(self.errors, [*path, "items"], comp.get("items"), 1, 10)):
            ipath: Path = [*path, "items", i]
            if not isinstance(item, dict):
                self.errors.add(ipath, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
                continue
            _media(self.errors, [*ipath, "media"], item.get("media"))
            _string(self.errors, [*ipath, "description"], item.get("description"), 1024, low=1)

    def separator(self, path: Path, comp: JSON) -> None:
        spacing = comp.get("spacing")
        if spacing is not None and spacing not in SEPARATOR_SPACINGS:
            self.errors.choices([*path, "spacing"], SEPARATOR_SPACINGS)
        _boolean(self.errors, [*path, "divider"], comp.get("divider"))

    def container(self, path: Path, comp: JSON) -> None:
        """Spec ContainerComponentForMessageRequest: accent_color 0-0xFFFFFF, 1-40 children."""
        e = self.errors
        _integer(e, [*path, "accent_color"], comp.get("accent_color"), 0, 0xFFFFFF)
        _boolean(e, [*path, "spoiler"], comp.get("spoiler"))
        for i, child in enumerate(_list(e, [*path, "components"], comp.get("components"), 1, 40)):
            self.message_component([*path, "components", i], child, allowed=CONTAINER_CHILDREN)

    def message_component(self, path: Path, comp: object, *, allowed: tuple[int, ...]) -> None:
        """One message component of a type allowed at ``path``."""
        if not isinstance(comp, dict):
            self.errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            return
        ctype = comp.get("type")
        if ctype not in allowed:
            _union_choice(self.errors, path, allowed)
            return
        self.common(path, comp)
        if ctype == ACTION_ROW:
            self.action_row(path, comp, modal=False)
        elif ctype == SECTION:
            self.section(path, comp)
        elif ctype == TEXT_DISPLAY:
            self.text_display(path, comp)
        elif ctype == MEDIA_GALLERY:
            self.media_gallery(path, comp)
        elif ctype == FILE:
            _media(self.errors, [*path, "file"], comp.get("file"))
        elif ctype == SEPARATOR:
            self.separator(path, comp)
        elif ctype == CONTAINER:
            self.container(path, comp)

    def label(self, path: Path, comp: JSON) -> None:
        """Spec LabelComponentForModalRequest; docs: label max 45 (required), description max 100."""
        e = self.errors
        _string(e, [*path, "label"], comp.get("label"), 45, low=1, required=True)
        _string(e, [*path, "description"], comp.get("description"), 100, low=1)
        child = comp.get("component")
        cpath: Path = [*path, "component"]
        if child is None:
            e.required(cpath)
            return
        if not isinstance(child, dict) or child.get("type") not in LABEL_CHILDREN:
            _union_choice(e, cpath, LABEL_CHILDREN)
            return
        self.common(cpath, child)
        if child["type"] == TEXT_INPUT:
            self.text_input(cpath, child)
        elif child["type"] in SELECTS:
            self.select(cpath, child)
        else:
            self.custom_id([*cpath, "custom_id"], child.get("custom_id"))


def validate_message_components(errors: FormErrors, components: object, *, v2: bool) -> None:
    """A message's ``components`` (create, edit, webhook, interaction response)."""
    if components is None:
        return
    if not isinstance(components, list):
        errors.wrong_type(["components"], "array")
        return
    walk = _Walk(errors)
    if not v2 and len(components) > LEGACY_ROWS_MAX:
        errors.max_length(["components"], LEGACY_ROWS_MAX)
    allowed = V2_TOP_LEVEL if v2 else LEGACY_TOP_LEVEL
    for i, comp in enumerate(components):
        walk.message_component(["components", i], comp, allowed=allowed)
    if v2 and walk.count > V2_COMPONENTS_MAX:
        errors.add(
            ["components"],
            "MESSAGE_COMPONENTS_TOO_MANY",  # leaf code unconfirmed
            f"Messages cannot have more than {V2_COMPONENTS_MAX} components",
        )


# Docs interactions/receiving-and-responding#interaction-response-object-modal: "Between 1 and 5 (inclusive)
# components"; spec ModalInteractionCallbackRequestData/properties/components says maxItems 40 — the
# stricter documented limit is used.
MODAL_COMPONENTS_MAX = 5


def validate_modal(errors: FormErrors, data: JSON) -> None:
    """The ``data`` of a MODAL (type 9) callback (spec ModalInteractionCallbackRequestData)."""
    path: Path = ["data"]
    walk = _Walk(errors)
    _string(errors, [*path, "custom_id"], data.get("custom_id"), 100, low=1, required=True)
    _string(errors, [*path, "title"], data.get("title"), 45, low=1, required=True)
    components = _list(errors, [*path, "components"], data.get("components"), 1, MODAL_COMPONENTS_MAX)
    for i, comp in enumerate(components):
        cpath: Path = [*path, "components", i]
        if not isinstance(comp, dict) or comp.get("type") not in MODAL_TOP_LEVEL:
            _union_choice(errors, cpath, MODAL_TOP_LEVEL)
            continue
        walk.common(cpath, comp)
        if comp["type"] == ACTION_ROW:
            walk.action_row(cpath, comp, modal=True)
        elif comp["type"] == LABEL:
            walk.label(cpath, comp)
        else:
            walk.text_display(cpath, comp)


def _children(comp: JSON) -> Iterator[JSON]:
    for key in ("components", "accessory", "component"):
        child = comp.get(key)
        for item in child if isinstance(child, list) else [child]:
            if isinstance(item, dict):
                yield item


def _walk(components: list[Any]) -> Iterator[JSON]:
    """Every component, parents before their children, in order (pre-order, depth first)."""
    for comp in components:
        if isinstance(comp, dict):
            yield comp
            yield from _walk(list(_children(comp)))


def with_ids(components: list[Any]) -> list[Any]:
    """A copy with every component's ``id`` filled in as Discord does.

    Docs "Anatomy of a Component": the ``id`` is "generated sequentially if left empty", generation "won't
    use another id that exists in the message", and an ``id`` of 0 "will be treated as empty". Spec
    ActionRowComponentResponse, ButtonComponentResponse… list ``id`` as required in responses.
    """
    out = copy.deepcopy(components)
    taken = {c["id"] for c in _walk(out) if _is_int(c.get("id")) and c["id"]}
    counter = 0
    for comp in _walk(out):
        if not (_is_int(comp.get("id")) and comp["id"]):
            counter += 1
            while counter in taken:
                counter += 1
            comp["id"] = counter
    return out


def all_components(components: list[Any]) -> list[JSON]:
    """Every component of a tree, parents first."""
    return list(_walk(components))
