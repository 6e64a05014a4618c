"""Payload validation with Discord's limits and error wording."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any, TypeGuard

from .components import validate_message_components
from .errors import FormErrors

Path = list[str | int]

CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TOTAL_MAX = 6000
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_AUTHOR_MAX = 256
COLOR_MAX = 0xFFFFFF
ALLOWED_MENTION_TYPES = ("everyone", "roles", "users")
AUTO_ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)

# Message flags a bot may set when creating a message.
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_IS_VOICE_MESSAGE = 1 << 13
FLAG_IS_COMPONENTS_V2 = 1 << 15
CREATE_FLAGS = (
    FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_IS_VOICE_MESSAGE | FLAG_IS_COMPONENTS_V2
)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_str(errors: FormErrors, path: Path, value: object, limit: int, *, required: bool) -> int:
    """Validate an optional/required string field; return its length for the embed total."""
    if value is None:
        if required:
            errors.required(path)
        return 0
    if not isinstance(value, str):
        errors.wrong_type(path, "string")
        return 0
    if required and not value.strip():
        errors.required(path)
    if len(value) > limit:
        errors.max_length(path, limit)
    return len(value)


# Spec RichEmbed, RichEmbedAuthor, RichEmbedFooter, RichEmbedImage, RichEmbedThumbnail: every url and
# icon_url has maxLength 2048.
EMBED_URL_MAX = 2048


def _check_url(errors: FormErrors, path: Path, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.startswith(("http://", "https://", "attachment://")):
        errors.add(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")
    elif len(value) > EMBED_URL_MAX:
        errors.max_length(path, EMBED_URL_MAX)


def validate_embed(errors: FormErrors, path: Path, embed: object) -> int:
    """Validate one embed, returning the characters that count towards the 6000 total."""
    if not isinstance(embed, dict):
        errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return 0
    total = _check_str(errors, [*path, "title"], embed.get("title"), EMBED_TITLE_MAX, required=False)
    total += _check_str(
        errors, [*path, "description"], embed.get("description"), EMBED_DESCRIPTION_MAX, required=False
    )
    _check_url(errors, [*path, "url"], embed.get("url"))
    color = embed.get("color")
    if color is not None:
        if not _is_int(color):
            errors.wrong_type([*path, "color"], "int")
        elif color < 0:
            errors.add([*path, "color"], "NUMBER_TYPE_MIN", "int value should be greater than or equal to 0.")
        elif color > COLOR_MAX:
            errors.add(
                [*path, "color"], "NUMBER_TYPE_MAX", f"int value should be less than or equal to {COLOR_MAX}."
            )
    fields = embed.get("fields")
    if fields is not None:
        if not isinstance(fields, list):
            errors.wrong_type([*path, "fields"], "array")
        else:
            if len(fields) > EMBED_FIELDS_MAX:
                errors.max_length([*path, "fields"], EMBED_FIELDS_MAX)
            for i, fld in enumerate(fields):
                fpath: Path = [*path, "fields", i]
                if not isinstance(fld, dict):
                    errors.add(fpath, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
                    continue
                total += _check_str(
                    errors, [*fpath, "name"], fld.get("name"), EMBED_FIELD_NAME_MAX, required=True
                )
                total += _check_str(
                    errors, [*fpath, "value"], fld.get("value"), EMBED_FIELD_VALUE_MAX, required=True
                )
    footer = embed.get("footer")
    if isinstance(footer, dict):
        total += _check_str(
            errors, [*path, "footer", "text"], footer.get("text"), EMBED_FOOTER_MAX, required=True
        )
        _check_url(errors, [*path, "footer", "icon_url"], footer.get("icon_url"))
    author = embed.get("author")
    if isinstance(author, dict):
        total += _check_str(
            errors, [*path, "author", "name"], author.get("name"), EMBED_AUTHOR_MAX, required=True
        )
        _check_url(errors, [*path, "author", "url"], author.get("url"))
        _check_url(errors, [*path, "author", "icon_url"], author.get("icon_url"))
    for media in ("image", "thumbnail"):
        item = embed.get(media)
        if isinstance(item, dict):
            _check_url(errors, [*path, media, "url"], item.get("url"))
    return total


def validate_allowed_mentions(errors: FormErrors, value: object) -> None:
    """Validate ``allowed_mentions`` (types, 100-id lists, parse/list exclusivity)."""
    if value is None:
        return
    path: Path = ["allowed_mentions"]
    if not isinstance(value, dict):
        errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return
    parse = value.get("parse")
    parse_set: set[str] = set()
    if parse is not None:
        if not isinstance(parse, list):
            errors.wrong_type([*path, "parse"], "array")
        else:
            for i, item in enumerate(parse):
                if item not in ALLOWED_MENTION_TYPES:
                    errors.choices([*path, "parse", i], ALLOWED_MENTION_TYPES)
                else:
                    parse_set.add(item)
    for kind in ("users", "roles"):
        ids = value.get(kind)
        if ids is None:
            continue
        if not isinstance(ids, list):
            errors.wrong_type([*path, kind], "array")
            continue
        if len(ids) > 100:
            errors.max_length([*path, kind], 100)
        for i, item in enumerate(ids):
            if not (isinstance(item, str) and item.isdigit()) and not _is_int(item):
                errors.add([*path, kind, i], "NUMBER_TYPE_COERCE", f'Value "{item}" is not snowflake.')
        if kind in parse_set and ids:
            errors.add(
                path,
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )
    replied = value.get("replied_user")
    if replied is not None and not isinstance(replied, bool):
        errors.wrong_type([*path, "replied_user"], "boolean")


# Spec MessageCreateRequest/properties/nonce (commit 74fda0fad044407ea280043a03ffc9bc64c4e49e): an int64, or
# a string of at most 25 characters; docs resources/message#create-message: "up to 25 characters".
NONCE_MAX_LENGTH = 25
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Spec MessageAttachmentRequest: filename 1-1024, description <= 1024; Message*Request attachments <= 10.
ATTACHMENTS_MAX = 10
ATTACHMENT_TEXT_MAX = 1024
# Docs resources/message#create-message, footnote **: with IS_COMPONENTS_V2 "the message can only contain
# components. Providing content, embeds, sticker_ids, poll, or shared_client_theme will fail with a 400".
V2_EXCLUDED_FIELDS = ("content", "embeds", "sticker_ids", "poll", "shared_client_theme")


def _legacy_field_used(payload: dict[str, Any], key: str) -> bool:
    """Whether a body sets a field that IS_COMPONENTS_V2 forbids (null, "" and [] reset it)."""
    return payload.get(key) not in (None, "", [])


def _validate_nonce(errors: FormErrors, nonce: object) -> None:
    """Spec MessageCreateRequest/properties/nonce: oneOf int64 integer, string maxLength 25, null."""
    if nonce is None:
        return
    if isinstance(nonce, str):
        if len(nonce) > NONCE_MAX_LENGTH:
            errors.max_length(["nonce"], NONCE_MAX_LENGTH)
    elif _is_int(nonce):
        if nonce < INT64_MIN:
            errors.add(
                ["nonce"], "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {INT64_MIN}."
            )
        elif nonce > INT64_MAX:
            errors.add(
                ["nonce"], "NUMBER_TYPE_MAX", f"int value should be less than or equal to {INT64_MAX}."
            )
    else:
        errors.wrong_type(["nonce"], "string")


def _validate_attachments(errors: FormErrors, attachments: object) -> None:
    """Spec MessageAttachmentRequest: ``id`` required, filename 1-1024, description <= 1024; <= 10 items."""
    if attachments is None:
        return
    if not isinstance(attachments, list):
        errors.wrong_type(["attachments"], "array")
        return
    if len(attachments) > ATTACHMENTS_MAX:
        errors.max_length(["attachments"], ATTACHMENTS_MAX)
    for i, att in enumerate(attachments):
        if not isinstance(att, dict) or "id" not in att:
            errors.required(["attachments", i, "id"])
            continue
        filename = att.get("filename")
        if filename is not None and (not isinstance(filename, str) or not 1 <= len(filename) <= 1024):
            errors.bad_length(["attachments", i, "filename"], 1, ATTACHMENT_TEXT_MAX)
        description = att.get("description")
        if isinstance(description, str) and len(description) > ATTACHMENT_TEXT_MAX:
            errors.max_length(["attachments", i, "description"], ATTACHMENT_TEXT_MAX)


def validate_message(
    payload: Any,
    *,
    file_count: int,
    allow_ephemeral: bool,
    nonce: bool = False,
    tts: bool = False,
    current: dict[str, Any] | None = None,
) -> FormErrors:
    """Validate a create/edit message body; returns the collected 50035 errors (possibly empty).

    ``nonce``/``tts``: the route takes those fields (channel create; webhooks and interaction responses take
    ``tts``); elsewhere Discord ignores them. ``current``: the stored message an edit applies to.
    """
    errors = FormErrors()
    if not isinstance(payload, dict):
        errors.add([], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return errors
    content = payload.get("content")
    if content is not None:
        if not isinstance(content, str):
            errors.wrong_type(["content"], "string")
        elif len(content) > CONTENT_MAX:
            # Docs: "up to 2000 characters"; spec MessageCreateRequest says maxLength 4000 (the stricter
            # documented limit wins); spec IncomingWebhook*Request agrees on 2000.
            errors.max_length(["content"], CONTENT_MAX)
    embeds = payload.get("embeds")
    if embeds is not None:
        if not isinstance(embeds, list):
            errors.wrong_type(["embeds"], "array")
        else:
            if len(embeds) > EMBEDS_MAX:
                errors.max_length(["embeds"], EMBEDS_MAX)
            total = sum(validate_embed(errors, ["embeds", i], e) for i, e in enumerate(embeds))
            if total > EMBED_TOTAL_MAX:
                errors.add(
                    ["embeds"],
                    "MAX_EMBED_SIZE_EXCEEDED",
                    f"Embed size exceeds maximum size of {EMBED_TOTAL_MAX}",
                )
    validate_allowed_mentions(errors, payload.get("allowed_mentions"))
    if nonce:
        _validate_nonce(errors, payload.get("nonce"))
        enforce = payload.get("enforce_nonce")
        if enforce is not None and not isinstance(enforce, bool):
            errors.wrong_type(["enforce_nonce"], "boolean")  # spec: {"type": ["boolean", "null"]}
    if tts:
        value = payload.get("tts")
        if value is not None and not isinstance(value, bool):
            errors.wrong_type(["tts"], "boolean")  # spec MessageCreateRequest/properties/tts: boolean|null
    flags = payload.get("flags")
    # EPHEMERAL outside interaction responses is silently dropped when the message is stored.
    if flags is not None and not _is_int(flags):
        errors.wrong_type(["flags"], "int")
    v2_requested = _is_int(flags) and bool(flags & FLAG_IS_COMPONENTS_V2)
    # Docs resources/message#edit-message: IS_COMPONENTS_V2 "can only be set", so an edit of a V2 message
    # is held to the same rules whatever flags it sends.
    was_v2 = current is not None and bool(int(current.get("flags") or 0) & FLAG_IS_COMPONENTS_V2)
    if v2_requested or was_v2:
        for key in V2_EXCLUDED_FIELDS:
            # An edit that turns a message into a V2 one must also reset the legacy fields the message
            # uses (docs resources/message#edit-message, footnote *: "content and poll … null, embeds and
            # sticker_ids … []. Failing to do this will result in a 400 BAD REQUEST response").
            stored_key = "sticker_items" if key == "sticker_ids" else key
            upgrade_leaves = (
                current is not None
                and not was_v2
                and key not in payload
                and current.get(stored_key) not in (None, "", [])
            )
            if _legacy_field_used(payload, key) or upgrade_leaves:
                # The leaf Discord answers (seen in apps' bug reports): content[MESSAGE_CANNOT_USE_LEGACY_
                # FIELDS_WITH_COMPONENTS_V2] "The 'content' field cannot be used when using MessageFlags…".
                errors.add(
                    [key],
                    "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                    f"The '{key}' field cannot be used when using MessageFlags.IS_COMPONENTS_V2",
                )
    # Which component types are allowed follows the request's own flags: a V2 layout sent without the flag
    # is parsed as legacy components and refused (UNION_TYPE_CHOICES).
    validate_message_components(errors, payload.get("components"), v2=v2_requested)
    stickers = payload.get("sticker_ids")
    if isinstance(stickers, list) and len(stickers) > 3:
        errors.max_length(["sticker_ids"], 3)
    _validate_attachments(errors, payload.get("attachments"))
    if file_count > 10:
        errors.max_length(["files"], 10)
    return errors


def message_has_body(payload: dict[str, Any], *, file_count: int) -> bool:
    """Whether a message would be non-empty (content, embeds, files, stickers, components or poll)."""
    content = payload.get("content")
    return bool(
        (isinstance(content, str) and content.strip())
        or payload.get("embeds")
        or file_count
        or payload.get("attachments")
        or payload.get("sticker_ids")
        or payload.get("components")
        or payload.get("poll")
    )


def validate_thread_fields(
    errors: FormErrors, payload: dict[str, Any], *, name_required: bool = True
) -> None:
    """Thread name 1–100 and auto_archive_duration choices."""
    name = payload.get("name")
    if name is None:
        if name_required:
            errors.required(["name"])
    elif not isinstance(name, str):
        errors.wrong_type(["name"], "string")
    elif not 1 <= len(name) <= 100:
        errors.bad_length(["name"], 1, 100)
    duration = payload.get("auto_archive_duration")
    if duration is not None and duration not in AUTO_ARCHIVE_DURATIONS:
        errors.choices(["auto_archive_duration"], AUTO_ARCHIVE_DURATIONS)
    slowmode = payload.get("rate_limit_per_user")
    if slowmode is not None and (not _is_int(slowmode) or not 0 <= slowmode <= 21600):
        errors.add(
            ["rate_limit_per_user"], "NUMBER_TYPE_MAX", "int value should be less than or equal to 21600."
        )


# --- application commands -------------------------------------------------------------------------

CHAT_INPUT = 1
USER_COMMAND = 2
MESSAGE_COMMAND = 3
PRIMARY_ENTRY_POINT = 4
COMMAND_TYPES = (CHAT_INPUT, USER_COMMAND, MESSAGE_COMMAND, PRIMARY_ENTRY_POINT)

SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
STRING = 3
INTEGER = 4
BOOLEAN = 5
USER = 6
CHANNEL = 7
ROLE = 8
MENTIONABLE = 9
NUMBER = 10
ATTACHMENT = 11
OPTION_TYPES = tuple(range(1, 12))
MAX_SAFE_INTEGER = 2**53

COMMAND_LIMITS = {CHAT_INPUT: 100, USER_COMMAND: 15, MESSAGE_COMMAND: 15, PRIMARY_ENTRY_POINT: 1}


# Unicode Scripts.txt ranges of \p{sc=Deva} (Devanagari) and \p{sc=Thai}; marks such as U+093F are in
# these scripts but in neither \p{L} nor \p{N}, so the regex lists the scripts explicitly.
_SCRIPT_RANGES = (
    ("\u0900", "\u0950"),
    ("\u0955", "\u0963"),
    ("\u0966", "\u097f"),
    ("\ua8e0", "\ua8ff"),
    ("\U00011b00", "\U00011b09"),
    ("\u0e01", "\u0e3a"),
    ("\u0e40", "\u0e5b"),
)


def valid_chat_input_name(name: str) -> bool:
    """The documented CHAT_INPUT command and option name rule.

    Docs interactions/application-commands#application-command-object-application-command-naming
    (docs repo commit c98d64bc233833839cf0d8d369e81b77f21ade60): names match
    ``^[-_'\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$`` (apostrophe included) and "If there is a
    lowercase variant of any letters used, you must use those".
    """
    if not 1 <= len(name) <= 32:
        return False
    for ch in name:
        if ch in "-_'" or any(low <= ch <= high for low, high in _SCRIPT_RANGES):
            continue
        if unicodedata.category(ch)[0] not in "LN":
            return False
    return name.lower() == name


def _command_size(cmd: dict[str, Any]) -> int:
    """Characters counted by the 8000 combined-size limit."""
    size = len(str(cmd.get("name") or "")) + len(str(cmd.get("description") or ""))
    for opt in cmd.get("options") or []:
        if isinstance(opt, dict):
            size += _command_size(opt)
            for choice in opt.get("choices") or []:
                if isinstance(choice, dict):
                    size += len(str(choice.get("name", ""))) + len(str(choice.get("value", "")))
    return size


def _validate_name(errors: FormErrors, path: Path, name: object, *, chat_input: bool) -> None:
    if name is None:
        errors.required(path)
    elif not isinstance(name, str):
        errors.wrong_type(path, "string")
    elif not 1 <= len(name) <= 32:
        errors.bad_length(path, 1, 32)
    elif chat_input and not valid_chat_input_name(name):
        errors.add(path, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")


# Docs reference#locales: the locales Discord accepts as localization keys. Spec AvailableLocalesEnum also
# lists "ar" and "he"; the stricter documented list is used.
LOCALES = (
    "id", "da", "de", "en-GB", "en-US", "es-ES", "es-419", "fr", "hr", "it", "lt", "hu", "nl", "no", "pl",
    "pt-BR", "ro", "fi", "sv-SE", "vi", "tr", "cs", "el", "bg", "ru", "uk", "hi", "th", "zh-CN", "ja",
    "zh-TW", "ko",
)  # fmt: skip


def _validate_localizations(
    errors: FormErrors, path: Path, item: dict[str, Any], *, chat_input: bool
) -> None:
    """``name_localizations``/``description_localizations``: documented locales as keys; the values "follow
    the same restrictions as" name and description (docs interactions/application-commands, command and
    option structures)."""
    for key, check in (("name_localizations", "name"), ("description_localizations", "description")):
        value = item.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            errors.add([*path, key], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        for locale, text in value.items():
            lpath: Path = [*path, key, locale]
            if locale not in LOCALES:
                errors.choices(lpath, LOCALES)
            elif check == "name":
                _validate_name(errors, lpath, text, chat_input=chat_input)
            else:
                _validate_description(errors, lpath, text)


def _validate_description(errors: FormErrors, path: Path, desc: object) -> None:
    if desc is None:
        errors.required(path)
    elif not isinstance(desc, str):
        errors.wrong_type(path, "string")
    elif not 1 <= len(desc) <= 100:
        errors.bad_length(path, 1, 100)


def _validate_choices(errors: FormErrors, path: Path, opt: dict[str, Any], opt_type: int) -> None:
    choices = opt.get("choices")
    if choices is None:
        return
    if not isinstance(choices, list):
        errors.wrong_type(path, "array")
        return
    if opt_type not in (STRING, INTEGER, NUMBER):
        errors.add(
            path,
            "APPLICATION_COMMAND_OPTION_CHOICES_INVALID_TYPE",
            "Choices are not valid for this option type",
        )
        return
    if len(choices) > 25:
        errors.max_length(path, 25)
    if choices and opt.get("autocomplete"):
        errors.add(
            path,
            "APPLICATION_COMMAND_OPTION_CHOICES_AUTOCOMPLETE",
            "Autocomplete and choices cannot be combined",
        )
    for i, choice in enumerate(choices):
        validate_choice(errors, [*path, i], choice, opt_type)


# Docs interactions/application-commands (#application-command-object-application-command-option-choice-
# structure): name 1-100 characters, value "up to 100 characters if string". Spec
# ApplicationCommandOptionStringChoice allows a 6000-character value; the stricter documented 100 wins.
# Integer values are spec Int53Type.
CHOICE_NAME_MAX = 100
CHOICE_STRING_VALUE_MAX = 100
INT53_MAX = 2**53 - 1


def validate_choice(errors: FormErrors, path: Path, choice: object, opt_type: int) -> None:
    """One option choice (in a command's ``choices`` or an autocomplete result) for an option type."""
    if not isinstance(choice, dict):
        errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return
    cname = choice.get("name")
    if cname is None:
        errors.required([*path, "name"])
    elif not isinstance(cname, str) or not 1 <= len(cname) <= CHOICE_NAME_MAX:
        errors.bad_length([*path, "name"], 1, CHOICE_NAME_MAX)
    localized = choice.get("name_localizations")
    if isinstance(localized, dict):
        for locale, text in localized.items():
            if locale not in LOCALES:
                errors.choices([*path, "name_localizations", locale], LOCALES)
            elif not isinstance(text, str) or not 1 <= len(text) <= CHOICE_NAME_MAX:
                errors.bad_length([*path, "name_localizations", locale], 1, CHOICE_NAME_MAX)
    value = choice.get("value")
    vpath: Path = [*path, "value"]
    if value is None:
        errors.required(vpath)
    elif opt_type == STRING:
        if not isinstance(value, str):
            errors.wrong_type(vpath, "string")
        elif len(value) > CHOICE_STRING_VALUE_MAX:
            errors.max_length(vpath, CHOICE_STRING_VALUE_MAX)
    elif opt_type == INTEGER:
        if not _is_int(value) or abs(value) > INT53_MAX:
            errors.wrong_type(vpath, "int")
    elif not (_is_int(value) or isinstance(value, float)):
        errors.wrong_type(vpath, "float")


def _validate_option(errors: FormErrors, path: Path, opt: object, *, depth: int) -> None:
    if not isinstance(opt, dict):
        errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return
    opt_type = opt.get("type")
    if opt_type not in OPTION_TYPES:
        errors.choices([*path, "type"], OPTION_TYPES)
        return
    _validate_name(errors, [*path, "name"], opt.get("name"), chat_input=True)
    _validate_description(errors, [*path, "description"], opt.get("description"))
    _validate_localizations(errors, path, opt, chat_input=True)
    if opt_type in (SUB_COMMAND, SUB_COMMAND_GROUP):
        children = opt.get("options") or []
        if opt_type == SUB_COMMAND_GROUP and depth > 0:
            errors.add(
                [*path, "type"],
                "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                "Sub-command groups cannot be nested",
            )
        if opt_type == SUB_COMMAND and depth > 1:
            errors.add(
                [*path, "type"], "APPLICATION_COMMAND_OPTION_TYPE_INVALID", "Sub-commands cannot be nested"
            )
        if opt_type == SUB_COMMAND_GROUP and any(
            isinstance(c, dict) and c.get("type") != SUB_COMMAND for c in children
        ):
            errors.add(
                [*path, "options"],
                "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                "Sub-command groups may only contain sub-commands",
            )
        _validate_option_list(errors, [*path, "options"], children, depth=depth + 1)
        return
    if opt.get("options"):
        errors.add(
            [*path, "options"],
            "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
            "Only sub-commands may have options",
        )
    _validate_choices(errors, [*path, "choices"], opt, opt_type)
    if opt.get("autocomplete") and opt_type not in (STRING, INTEGER, NUMBER):
        errors.add(
            [*path, "autocomplete"],
            "APPLICATION_COMMAND_OPTION_INVALID",
            "Autocomplete is not valid for this type",
        )
    for key, low, high in (("min_length", 0, 6000), ("max_length", 1, 6000)):
        value = opt.get(key)
        if value is None:
            continue
        if opt_type != STRING:
            errors.add(
                [*path, key], "APPLICATION_COMMAND_OPTION_INVALID", f"{key} is only valid for string options"
            )
        elif not _is_int(value):
            errors.wrong_type([*path, key], "int")
        elif value < low:
            errors.add(
                [*path, key], "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {low}."
            )
        elif value > high:
            errors.add([*path, key], "NUMBER_TYPE_MAX", f"int value should be less than or equal to {high}.")
    min_len, max_len = opt.get("min_length"), opt.get("max_length")
    if isinstance(min_len, int) and isinstance(max_len, int) and min_len > max_len:
        errors.add(
            [*path, "min_length"], "APPLICATION_COMMAND_OPTION_INVALID", "min_length must be <= max_length"
        )
    for key in ("min_value", "max_value"):
        value = opt.get(key)
        if value is not None and opt_type not in (INTEGER, NUMBER):
            errors.add(
                [*path, key], "APPLICATION_COMMAND_OPTION_INVALID", f"{key} is only valid for numeric options"
            )
    channel_types = opt.get("channel_types")
    if channel_types is not None and opt_type != CHANNEL:
        errors.add(
            [*path, "channel_types"],
            "APPLICATION_COMMAND_OPTION_INVALID",
            "channel_types need a channel option",
        )


def _validate_option_list(errors: FormErrors, path: Path, options: object, *, depth: int) -> None:
    if not isinstance(options, list):
        errors.wrong_type(path, "array")
        return
    if len(options) > 25:
        errors.max_length(path, 25)
    kinds = {opt.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP) for opt in options if isinstance(opt, dict)}
    if len(kinds) > 1:
        errors.add(
            path,
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Sub-command and sub-command group option types are mutually exclusive to all other types",
        )
    seen: set[str] = set()
    optional_seen = False
    for i, opt in enumerate(options):
        _validate_option(errors, [*path, i], opt, depth=depth)
        if not isinstance(opt, dict):
            continue
        name = opt.get("name")
        if isinstance(name, str):
            if name in seen:
                errors.add(
                    [*path, i, "name"],
                    "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                    f"Option name {name} is already used in these options",
                )
            seen.add(name)
        if opt.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP):
            continue
        if opt.get("required"):
            if optional_seen:
                errors.add(
                    [*path, i],
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            optional_seen = True


def validate_command(cmd: object, *, partial: bool = False) -> FormErrors:
    """Validate one application command body (``partial`` for PATCH: only given fields)."""
    errors = FormErrors()
    if not isinstance(cmd, dict):
        errors.add([], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return errors
    cmd_type = cmd.get("type", CHAT_INPUT)
    if cmd_type not in COMMAND_TYPES:
        errors.choices(["type"], COMMAND_TYPES)
        return errors
    chat_input = cmd_type == CHAT_INPUT
    if not partial or "name" in cmd:
        _validate_name(errors, ["name"], cmd.get("name"), chat_input=chat_input)
    if chat_input and (not partial or "description" in cmd):
        _validate_description(errors, ["description"], cmd.get("description"))
    _validate_localizations(errors, [], cmd, chat_input=chat_input)
    options = cmd.get("options")
    if options is not None:
        if not chat_input and options:
            errors.add(
                ["options"],
                "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                "Only chat input commands have options",
            )
        else:
            _validate_option_list(errors, ["options"], options, depth=0)
    dmp = cmd.get("default_member_permissions")
    if dmp is not None and not (isinstance(dmp, str) and dmp.isdigit()) and not _is_int(dmp):
        errors.add(["default_member_permissions"], "NUMBER_TYPE_COERCE", f'Value "{dmp}" is not int.')
    for key, allowed in (("contexts", (0, 1, 2)), ("integration_types", (0, 1))):
        value = cmd.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            errors.wrong_type([key], "array")
            continue
        for i, item in enumerate(value):
            if item not in allowed:
                errors.choices([key, i], allowed)
    if not errors and _command_size(cmd) > 8000:
        errors.add([], "APPLICATION_COMMAND_TOO_LARGE", "Command exceeds maximum size (8000)")
    return errors


def validate_command_list(commands: object) -> FormErrors:
    """Validate a bulk-overwrite body: per-index errors plus duplicate names per command type."""
    errors = FormErrors()
    if not isinstance(commands, list):
        errors.wrong_type([], "array")
        return errors
    seen: set[tuple[int, str]] = set()
    for i, cmd in enumerate(commands):
        errors.merge([i], validate_command(cmd))
        if isinstance(cmd, dict) and isinstance(cmd.get("name"), str):
            key = (int(cmd.get("type", CHAT_INPUT)), cmd["name"])
            if key in seen:
                errors.add(
                    [i], "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"
                )
            seen.add(key)
    return errors


def normalize_option(opt: dict[str, Any]) -> dict[str, Any]:
    """An option as Discord echoes it back (false ``required`` and null fields dropped)."""
    out: dict[str, Any] = {}
    for key, value in opt.items():
        if value is None or (key == "required" and value is False):
            continue
        if key == "options":
            value = [normalize_option(o) for o in value]
            if not value:
                continue
        out[key] = value
    out.setdefault("name_localizations", None)
    out.setdefault("description_localizations", None)
    return out


def command_count_by_type(commands: Sequence[dict[str, Any]]) -> dict[int, int]:
    """How many commands of each type a list holds."""
    counts: dict[int, int] = {}
    for cmd in commands:
        t = int(cmd.get("type", CHAT_INPUT))
        counts[t] = counts.get(t, 0) + 1
    return counts
