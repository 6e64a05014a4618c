"""Loopback fake of the Gemini Developer API (REST + SSE), driven in tests by the real google-genai client.

The fake speaks the wire protocol google-genai parses (``generateContent``, ``streamGenerateContent?alt=sse``,
``models`` get and list) and answers from scripts. Every request is read into the request message of the
API version in its URL as Google's generated types define it (PyPI ``google-ai-generativelanguage``, whose
``generativelanguage_v1`` and ``generativelanguage_v1beta`` are built from Google's protos), so a field one
version lacks is refused with the 400 Google's JSON transcoder sends. The one field read beyond those types
is ``generationConfig.thinkingConfig.thinkingLevel`` (see "thinking" below). Models think as Google
documents, and the fake spends every thought token a request allows: thought tokens count against
``maxOutputTokens``, so an answer without room is cut off as the real API cuts it. Structured output
(``responseJsonSchema``) is checked against Google's rules, and an unscripted call that asks for it answers
JSON its schema accepts (see "structured output" below); ``Reply.json`` scripts a structured answer.
A request with the Google Search tool gets a grounded answer, with the grounding metadata Google sends
(see "grounding" below); ``Reply.sources`` and ``Reply.search_queries`` script what it found.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import html
import json
import math
import re
import secrets
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType, TracebackType
from typing import Any, Literal, Self, TypeAlias, cast
from urllib.parse import quote_plus

from aiohttp import web
from google.ai import generativelanguage_v1, generativelanguage_v1beta
from google.genai import types as genai_types
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.descriptor_pb2 import FieldDescriptorProto

JsonDict: TypeAlias = dict[str, Any]
Method: TypeAlias = Literal["generateContent", "streamGenerateContent"]
FaultKind: TypeAlias = Literal[
    "unavailable",
    "internal",
    "deadline",
    "rate_limited",
    "quota_exhausted_today",
    "hang",
    "blocked_prompt",
    "blocked_reply",
    "max_tokens",
    "recitation",
]

_METHODS = ("generateContent", "streamGenerateContent")
_ROUTE = "/{version:v1|v1beta}/models"
# The generated types of each API version, as Google publishes them.
_VERSIONS: Mapping[str, ModuleType] = {"v1": generativelanguage_v1, "v1beta": generativelanguage_v1beta}
_INPUT_TOKEN_LIMIT = 1_048_576
# Output token limit of gemini-3.5-flash, 3.1 Pro and 3.1 Flash-Lite alike ("Output token length limit" in
# https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/guides/gemini-3-5-flash); a request
# without maxOutputTokens may use all of it.
_OUTPUT_TOKEN_LIMIT = 65_536
_RATE_LIMITS_URL = "https://ai.google.dev/gemini-api/docs/rate-limits"
_QUOTA_METRIC = "generativelanguage.googleapis.com/generate_content_free_tier_requests"


def count_tokens(text: str) -> int:
    """The fake's deterministic token estimate: one token per started group of four characters."""
    return math.ceil(len(text) / 4)


# --------------------------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Usage:
    """Token counts that replace the fake's text-length estimate in ``usageMetadata``."""

    prompt: int
    candidates: int
    thoughts: int = 0


@dataclass(frozen=True)
class WebSource:
    """A web page a grounded answer cites: ``groundingChunks[].web`` (title and uri)."""

    title: str
    uri: str


@dataclass(frozen=True)
class Reply:
    """A successful answer; for streaming calls ``chunks`` (joining to ``text``) become the SSE events, and
    without them the text arrives in a few chunks split at word boundaries. The model's thinking comes
    first, so an answer that does not fit in ``maxOutputTokens`` after it is cut off; ``usage`` replaces the
    fake's counts and that emulation.

    For a request with the Google Search tool, ``sources`` and ``search_queries`` are what the model found
    and searched for (None: derived from the request; no sources: it answered without searching, and the
    answer has no grounding metadata). A request without the tool never gets grounding metadata."""

    text: str
    latency: float = 0.0
    finish_reason: str = "STOP"
    chunks: Sequence[str] | None = None
    chunk_delay: float = 0.0
    usage: Usage | None = None
    sources: Sequence[WebSource] | None = None
    search_queries: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if self.sources is not None:
            object.__setattr__(self, "sources", tuple(self.sources))
        if self.search_queries is not None:
            object.__setattr__(self, "search_queries", tuple(self.search_queries))
        if self.chunks is not None:
            object.__setattr__(self, "chunks", tuple(self.chunks))
            if "".join(self.chunks) != self.text:
                raise ValueError(f"Reply.chunks {self.chunks!r} do not join to Reply.text {self.text!r}")

    @classmethod
    def json(
        cls,
        document: Any,
        *,
        chunk_count: int | None = None,
        latency: float = 0.0,
        chunk_delay: float = 0.0,
        usage: Usage | None = None,
        sources: Sequence[WebSource] | None = None,
        search_queries: Sequence[str] | None = None,
    ) -> Reply:
        """A structured answer: ``document`` written as JSON text, as a model under ``responseJsonSchema``
        writes it. ``chunk_count`` streams it in that many pieces of near-equal length (by default it is
        split at spaces like any reply). The fake does not check ``document`` against the request's schema:
        script a non-conforming document, or a plain ``Reply`` with broken JSON, to test what a caller does
        with them."""
        text = json.dumps(document, ensure_ascii=False)
        chunks = None if chunk_count is None else even_chunks(text, chunk_count)
        return cls(
            text,
            latency=latency,
            chunks=chunks,
            chunk_delay=chunk_delay,
            usage=usage,
            sources=sources,
            search_queries=search_queries,
        )


@dataclass(frozen=True)
class Fault:
    """A failure as the real API produces it: an HTTP error, a hang, or a 200 answer without usable text."""

    kind: FaultKind
    latency: float = 0.0
    retry_delay_s: float = 0.0
    text: str = ""

    @classmethod
    def unavailable(cls, *, latency: float = 0.0) -> Fault:
        """503 UNAVAILABLE: the model is overloaded."""
        return cls("unavailable", latency)

    @classmethod
    def internal(cls, *, latency: float = 0.0) -> Fault:
        """500 INTERNAL."""
        return cls("internal", latency)

    @classmethod
    def deadline(cls, *, latency: float = 0.0) -> Fault:
        """504 DEADLINE_EXCEEDED."""
        return cls("deadline", latency)

    @classmethod
    def rate_limited(cls, retry_delay_s: float = 7.0, *, latency: float = 0.0) -> Fault:
        """429 RESOURCE_EXHAUSTED on the free tier's per-minute request quota."""
        return cls("rate_limited", latency, retry_delay_s)

    @classmethod
    def quota_exhausted_today(cls, retry_delay_s: float = 6 * 3600.0, *, latency: float = 0.0) -> Fault:
        """429 RESOURCE_EXHAUSTED on the free tier's per-day request quota."""
        return cls("quota_exhausted_today", latency, retry_delay_s)

    @classmethod
    def hang(cls) -> Fault:
        """Never answer; the request ends when the client gives up or the fake closes."""
        return cls("hang")

    @classmethod
    def blocked_prompt(cls, *, latency: float = 0.0) -> Fault:
        """200 without candidates; ``promptFeedback.blockReason`` is SAFETY."""
        return cls("blocked_prompt", latency)

    @classmethod
    def blocked_reply(cls, *, latency: float = 0.0) -> Fault:
        """200 with one content-less candidate whose finishReason is SAFETY."""
        return cls("blocked_reply", latency)

    @classmethod
    def max_tokens(cls, text: str = "", *, latency: float = 0.0) -> Fault:
        """200 with finishReason MAX_TOKENS; empty ``text`` means a candidate content without parts."""
        return cls("max_tokens", latency, text=text)

    @classmethod
    def recitation(cls, *, latency: float = 0.0) -> Fault:
        """200 with one content-less candidate whose finishReason is RECITATION."""
        return cls("recitation", latency)


Outcome: TypeAlias = Reply | Fault


@dataclass
class GeminiCall:
    """One request that reached a generate route, as the fake received and answered it.

    ``thinking_level`` is the level the model thought at (asked for or its default; None when a
    ``thinkingBudget`` governed), ``thoughts_tokens`` the thought tokens it spent, ``finish_reason`` and
    ``usage`` what the answer reported (None for error answers). ``response_mime_type`` and
    ``response_schema`` are ``generationConfig.responseMimeType`` and ``.responseJsonSchema`` as sent
    ("" and None when absent). ``tools`` is the request's ``tools`` as sent ([] when absent) and
    ``grounded`` whether one of them is Google Search. ``t_first_event`` is when a streamed answer's first
    event was sent.
    """

    index: int
    api_version: str
    model: str
    method: Method
    t_received: float
    body: Any = None
    system_text: str = ""
    user_text: str = ""
    generation_config: JsonDict = field(default_factory=dict)
    response_mime_type: str = ""
    response_schema: Any = None
    tools: list[Any] = field(default_factory=list)
    grounded: bool = False
    prompt_tokens: int = 0
    max_output_tokens: int = 0
    candidate_count: int = 1
    thinking_level: str | None = None
    thinking_budget: int | None = None
    include_thoughts: bool = False
    thoughts_tokens: int = 0
    finish_reason: str | None = None
    usage: Usage | None = None
    t_responded: float | None = None
    t_first_event: float | None = None
    status: int | None = None
    outcome: Outcome | None = None
    api_key_ok: bool = False


@dataclass
class Script:
    """Calls for which ``match`` holds consume ``outcomes`` in order; the last one repeats forever."""

    match: Callable[[GeminiCall], bool]
    outcomes: tuple[Outcome, ...]
    consumed: int = 0

    def take(self) -> Outcome:
        """Return the next outcome and count it as consumed."""
        outcome = self.outcomes[min(self.consumed, len(self.outcomes) - 1)]
        self.consumed += 1
        return outcome


def _default_text(call: GeminiCall) -> str:
    """What an unscripted call answers: its model and the start of its user text."""
    return f"[{call.model}] reply to: {call.user_text[:60]}"


def _system_contains(needle: str) -> Callable[[GeminiCall], bool]:
    return lambda call: needle in call.system_text


# ----------------------------------------------------------------------------------------------- errors


class _ApiError(Exception):
    """An error answer in Google's JSON shape."""

    def __init__(self, code: int, status: str, message: str, details: Sequence[JsonDict] = ()) -> None:
        super().__init__(message)
        self.code, self.status, self.message, self.details = code, status, message, list(details)

    def body(self) -> JsonDict:
        error: JsonDict = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def _invalid(message: str) -> _ApiError:
    return _ApiError(400, "INVALID_ARGUMENT", message)


def _bad_request(message: str, field_path: str = "") -> _ApiError:
    violation = {"field": field_path, "description": message} if field_path else {"description": message}
    detail = {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}
    return _ApiError(400, "INVALID_ARGUMENT", message, [detail])


_NOT_FOUND = _ApiError(404, "NOT_FOUND", "Requested entity was not found.")
_SHUTTING_DOWN = _ApiError(503, "UNAVAILABLE", "The service is currently unavailable.")
_MISSING_KEY = _ApiError(
    403,
    "PERMISSION_DENIED",
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API.",
)
_BAD_KEY_MESSAGE = "API key not valid. Please pass a valid API key."
_BAD_KEY = _ApiError(
    400,
    "INVALID_ARGUMENT",
    _BAD_KEY_MESSAGE,
    [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        },
        {
            "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
            "locale": "en-US",
            "message": _BAD_KEY_MESSAGE,
        },
    ],
)


def _duration(seconds: float) -> str:
    """A protobuf Duration in JSON form, e.g. ``7s`` or ``0.5s``."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:.9f}".rstrip("0") + "s"


def _quota_error(model: str, per_day: bool, retry_delay_s: float) -> _ApiError:
    period, limit = ("Day", 250) if per_day else ("Minute", 10)
    message = (
        "You exceeded your current quota, please check your plan and billing details. For more information "
        f"on this error, head to: {_RATE_LIMITS_URL}. To monitor your current usage, head to: "
        f"https://ai.dev/rate-limit. \n* Quota exceeded for metric: {_QUOTA_METRIC}, limit: {limit}, "
        f"model: {model}\nPlease retry in {retry_delay_s:g}s."
    )
    violation = {
        "quotaMetric": _QUOTA_METRIC,
        "quotaId": f"GenerateRequestsPer{period}PerProjectPerModel-FreeTier",
        "quotaDimensions": {"location": "global", "model": model},
        "quotaValue": str(limit),
    }
    details: list[JsonDict] = [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]},
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [{"description": "Learn more about Gemini API quotas", "url": _RATE_LIMITS_URL}],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": _duration(retry_delay_s)},
    ]
    return _ApiError(429, "RESOURCE_EXHAUSTED", message, details)


def _fault_error(fault: Fault, model: str) -> _ApiError | None:
    """The HTTP error a fault answers with, or None for faults answered with a 200 body."""
    if fault.kind == "unavailable":
        return _ApiError(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    if fault.kind == "internal":
        return _ApiError(
            500,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in "
            "https://developers.generativeai.google/guide/troubleshooting",
        )
    if fault.kind == "deadline":
        return _ApiError(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete.")
    if fault.kind in ("rate_limited", "quota_exhausted_today"):
        return _quota_error(model, fault.kind == "quota_exhausted_today", fault.retry_delay_s)
    return None


# ------------------------------------------------------------------------------------ request validation
#
# A request body is parsed into the version's generated request message with protobuf's
# json_format.ParseDict, which accepts the JSON (lowerCamel) and the proto (snake_case) field names alike, as
# Google's transcoder does, and refuses unknown names and mistyped values. When it refuses, the part it
# refused is found by parsing the body's fields one at a time, and worded as Google words it: unknown names
# ("Invalid JSON payload received. Unknown name \"systemInstruction\": Cannot find field.", the body v1 sends
# for a system instruction: https://github.com/vercel/ai/pull/2256,
# https://github.com/googleapis/python-genai/issues/425), lists where one value belongs ("... Unknown name
# \"text\" at 'system_instruction.parts[0]': Proto field is not repeating, cannot start list.":
# https://github.com/openai/openai-agents-js/issues/34) and mistyped values ("Invalid value at '<path>'
# (<type>), <value>", paths in proto names: https://github.com/mnfst/llm-gateway/issues/1858), each in a
# google.rpc.BadRequest detail whose field violation names the path when there is one.

_NOT_REPEATING = "Proto field is not repeating, cannot start list."
# Standard query parameters every Google API takes besides a request's own fields:
# https://cloud.google.com/apis/docs/system-parameters
_SYSTEM_PARAMETERS = frozenset(
    {"key", "access_token", "alt", "callback", "fields", "prettyPrint", "quotaUser", "$.xgafv"}
    | {"$alt", "$callback", "$fields", "$prettyPrint", "$quotaUser"}
)
# GenerationConfig values the API range-checks (field, lowest, highest, complaint); the ranges are those of
# https://ai.google.dev/api/generate-content#generationconfig
_RANGES: tuple[tuple[str, float, float, str], ...] = (
    ("temperature", 0.0, 2.0, "must be in the range [0.0, 2.0]"),
    ("top_p", 0.0, 1.0, "must be in the range [0.0, 1.0]"),
    ("max_output_tokens", 1, math.inf, "must be a positive number"),
    ("candidate_count", 1, 8, "must be in the range [1, 8]"),
)


def _message_class(version: str, name: str) -> Any:
    """The raw protobuf class behind the generated proto-plus message ``name`` of ``version``."""
    return getattr(_VERSIONS[version], name).pb()


def _parses(obj: JsonDict, descriptor: Descriptor) -> bool:
    try:
        json_format.ParseDict(obj, message_factory.GetMessageClass(descriptor)(), ignore_unknown_fields=False)
    except json_format.ParseError:
        return False
    return True


def _field(descriptor: Descriptor, key: str) -> FieldDescriptor | None:
    """The field ``key`` names, by its proto name or its JSON name."""
    found: FieldDescriptor | None = descriptor.fields_by_name.get(key)
    return found or next((f for f in descriptor.fields if f.json_name == key), None)


def _type_name(field_: FieldDescriptor) -> str:
    """How Google names a field's type in an error: a type URL, or the scalar's proto type."""
    if field_.message_type is not None:
        return f"type.googleapis.com/{field_.message_type.full_name}"
    if field_.enum_type is not None:
        return f"type.googleapis.com/{field_.enum_type.full_name}"
    return FieldDescriptorProto.Type.Name(cast(FieldDescriptorProto.Type.ValueType, field_.type))


def _invalid_value(value: Any, field_: FieldDescriptor, path: str) -> _ApiError:
    """Google's 400 for ``value`` at ``path``, or for the first refused part inside it."""
    if field_.message_type is not None and isinstance(value, dict):
        inner = _refused_part(value, field_.message_type, path)
        if inner is not None:
            return inner
    return _bad_request(f"Invalid value at '{path}' ({_type_name(field_)}), {json.dumps(value)}", path)


def _refused_part(obj: JsonDict, descriptor: Descriptor, path: str) -> _ApiError | None:
    """Google's 400 for the first field of ``obj`` that ParseDict refuses, or None if each parses alone."""
    for key, value in obj.items():
        if _parses({key: value}, descriptor):
            continue
        field_ = _field(descriptor, key)
        where = f" at '{path}'" if path else ""
        if field_ is None:
            return _bad_request(
                f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.', path
            )
        inside = f"{path}.{field_.name}" if path else field_.name
        repeated = field_.is_repeated
        if not repeated and isinstance(value, list):
            return _bad_request(
                f'Invalid JSON payload received. Unknown name "{key}"{where}: {_NOT_REPEATING}', path
            )
        if repeated and isinstance(value, list):
            for i, item in enumerate(value):
                if not _parses({key: [item]}, descriptor):
                    return _invalid_value(item, field_, f"{inside}[{i}]")
            continue
        return _invalid_value(value, field_, inside)
    return None


def _parse(version: str, type_name: str, obj: Any) -> Any:
    """``obj`` read into the generated message ``type_name`` of ``version``; Google's 400 if it cannot be."""
    cls = _message_class(version, type_name)
    if not isinstance(obj, dict):
        raise _bad_request('Invalid JSON payload received. Unknown name "": Root element must be a message.')
    try:
        return json_format.ParseDict(obj, cls(), ignore_unknown_fields=False)
    except json_format.ParseError as error:
        # A refusal no single field explains (one field under both of its names, two members of a oneof)
        # keeps protobuf's own words.
        raise _refused_part(obj, cls.DESCRIPTOR, "") or _bad_request(
            f"Invalid JSON payload received. {str(error).splitlines()[0]}"
        ) from None


def _parse_body(raw: bytes) -> Any:
    """The request body as JSON ({} when empty); a 400 when it is not JSON."""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        snippet = raw[:40].decode("utf-8", "replace")
        raise _bad_request(f"Invalid JSON payload received. Unexpected token.\n{snippet}\n^") from None


def _parse_query(version: str, type_name: str, query: Mapping[str, str], path_fields: JsonDict) -> Any:
    """A GET request's message from its path and query; a query parameter binds to a field or is refused."""
    fields = {name: value for name, value in query.items() if name not in _SYSTEM_PARAMETERS}
    descriptor = _message_class(version, type_name).DESCRIPTOR
    for name in fields:
        if _field(descriptor, name) is None:
            raise _bad_request(
                f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query parameter. '
                f"Field '{name}' could not be found in request message."
            )
    return _parse(version, type_name, fields | path_fields)


def _check_answer(version: str, type_name: str, payload: JsonDict) -> None:
    """Fail loudly when the fake itself would answer with something the version's types do not define."""
    try:
        json_format.ParseDict(payload, _message_class(version, type_name)(), ignore_unknown_fields=False)
    except json_format.ParseError as error:
        raise AssertionError(
            f"the fake's {version} {type_name} does not fit Google's types: {error}"
        ) from None


def _has(message: Any, name: str) -> bool:
    """Whether ``message`` defines the field ``name`` at all (v1 lacks many of v1beta's)."""
    return name in message.DESCRIPTOR.fields_by_name


def _part_problems(content: Any, path: str) -> list[str]:
    # The API's words for a content without parts (https://github.com/egoist/chatwise-releases/issues/250)
    # and for a part without data, an empty text included (https://github.com/boldsoftware/sketch/issues/68).
    if not content.parts:
        return [f"{path}.parts: contents.parts must not be empty."]
    return [
        f"{path}.parts[{j}].data: required oneof field 'data' must have one initialized field"
        for j, part in enumerate(content.parts)
        if part.WhichOneof("data") is None or (part.WhichOneof("data") == "text" and not part.text)
    ]


def _check_semantics(request: Any) -> None:
    """Refuse well-formed requests Gemini refuses: no contents, bad roles, empty parts, bad config values."""
    # A role "Must be either 'user' or 'model'", or left out (https://ai.google.dev/api/caching#Content); the
    # 400: https://github.com/langbot-app/LangBot/issues/1486. No contents:
    # https://github.com/langchain-ai/langchain-google/issues/1393
    if any(content.role not in ("", "user", "model") for content in request.contents):
        raise _invalid("Please use a valid role: user, model.")
    problems = [] if request.contents else ["contents: contents is not specified"]
    for i, content in enumerate(request.contents):
        problems += _part_problems(content, f"contents[{i}]")
    if _has(request, "system_instruction") and request.HasField("system_instruction"):
        problems += _part_problems(request.system_instruction, "system_instruction")
    config = request.generation_config
    for name, lowest, highest, complaint in _RANGES:
        if config.HasField(name) and not lowest <= getattr(config, name) <= highest:
            problems.append(f"generation_config.{name}: {complaint}, got {getattr(config, name):g}")
    if problems:
        raise _invalid("".join(f"* GenerateContentRequest.{problem}\n" for problem in problems))


def _texts(content: Any) -> list[str]:
    """The non-thought text parts of a Content."""
    return [
        part.text
        for part in content.parts
        if part.WhichOneof("data") == "text" and not getattr(part, "thought", False)
    ]


def _describe(call: GeminiCall, request: Any, body: JsonDict) -> None:
    """Fill the call's text and config fields from a request that parsed."""
    system = _texts(request.system_instruction) if _has(request, "system_instruction") else []
    call.system_text = "\n".join(system)
    call.user_text = "\n".join(
        text for content in request.contents if content.role in ("", "user") for text in _texts(content)
    )
    call.generation_config = dict(body.get("generationConfig", body.get("generation_config")) or {})
    config_json = call.generation_config
    call.response_mime_type = str(
        config_json.get("responseMimeType", config_json.get("response_mime_type", ""))
    )
    call.response_schema = config_json.get("responseJsonSchema", config_json.get("response_json_schema"))
    texts = system + [text for content in request.contents for text in _texts(content)]
    call.prompt_tokens = count_tokens("".join(texts))
    config = request.generation_config
    has_limit = config.HasField("max_output_tokens")
    call.max_output_tokens = config.max_output_tokens if has_limit else _OUTPUT_TOKEN_LIMIT
    call.candidate_count = config.candidate_count if config.HasField("candidate_count") else 1
    call.tools = list(body.get("tools") or [])
    tools = request.tools if _has(request, "tools") else []
    call.grounded = any(tool.HasField("google_search") for tool in tools)


# --------------------------------------------------------------------------------------- structured output
#
# The rules are Google's: the v1beta GenerationConfig (PyPI google-ai-generativelanguage,
# generativelanguage_v1beta) says of response_json_schema "If set, response_schema must be omitted, but
# response_mime_type is required", lists the JSON Schema keywords it supports ($id, $defs, $ref, $anchor,
# type, format, title, description, enum for strings and numbers, items, prefixItems, minItems, maxItems,
# minimum, maximum, anyOf, oneOf read as anyOf, properties, additionalProperties, required, and the
# non-standard propertyOrdering), and adds that "If $ref is set on a sub-schema, no other properties, except
# for than those starting as a $, may be set" and that cyclic references "may only be used within
# non-required properties". v1's GenerationConfig has neither responseMimeType nor responseJsonSchema, so the
# generated types above refuse both there. https://ai.google.dev/gemini-api/docs/structured-output (as copied
# in shamansoft/kukbuk-srv docs/structrured-output-gemini.md) sets the MIME type to application/json, says
# "the model will produce outputs in the same order as the keys in the schema" and, under Limitations, "The
# model ignores unsupported properties": so other keywords (pattern, minLength, const…) are accepted and have
# no effect, here as there.
#
# Refusals come as Google's 400 INVALID_ARGUMENT. The $ref one is worded as the API words it ("schema at
# properties.draft can only contain properties starting with '$' when $ref is present":
# https://github.com/google-gemini/gemini-cli/issues/4758); how it names the root schema is not known, so the
# root is "schema". No published body was found for the other refusals (both schemas set, no JSON MIME type,
# an unresolvable or required cyclic $ref): they are worded here, in the "* GenerateContentRequest.<field>:"
# list the API uses for request problems (see _check_semantics).

JSON_MIME_TYPE = "application/json"
_STRING_FORMATS = {"date-time": "2025-01-01T00:00:00Z", "date": "2025-01-01", "time": "00:00:00"}
_UNRESOLVED = object()


def _request_problem(field_path: str, complaint: str) -> _ApiError:
    return _invalid(f"* GenerateContentRequest.generation_config.{field_path}: {complaint}\n")


def _inside(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _subschemas(schema: Any, path: str = "") -> Iterator[tuple[JsonDict, str]]:
    """Every schema within ``schema`` (itself first) with its path, following the supported keywords."""
    if not isinstance(schema, dict):
        return
    yield schema, path
    for keyword in ("properties", "$defs"):
        children = schema.get(keyword)
        if isinstance(children, dict):
            for name, child in children.items():
                yield from _subschemas(child, _inside(path, f"{keyword}.{name}"))
    for keyword in ("items", "additionalProperties"):
        yield from _subschemas(schema.get(keyword), _inside(path, keyword))
    for keyword in ("prefixItems", "anyOf", "oneOf"):
        children = schema.get(keyword)
        if isinstance(children, list):
            for i, child in enumerate(children):
                yield from _subschemas(child, _inside(path, f"{keyword}.{i}"))


def _resolve(ref: str, root: Any, anchors: Mapping[str, Any]) -> Any:
    """The schema a local ``$ref`` names: ``#``, a JSON pointer ``#/…`` or an ``$anchor`` ``#name``."""
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        return anchors.get(ref[1:], _UNRESOLVED) if ref.startswith("#") else _UNRESOLVED
    node = root
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _UNRESOLVED
    return node


_Expanding: TypeAlias = tuple[tuple[str, str], ...]  # each $ref being expanded, with where it was met


class _RequiredCycle(Exception):
    """A ``$ref`` (met at ``path``) that leads back into itself where the answer cannot leave it out."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


@dataclass(frozen=True)
class _Schema:
    """A request's ``responseJsonSchema`` and the call an answer to it is written for."""

    root: Any
    anchors: Mapping[str, Any]
    call: GeminiCall

    def document(self, schema: Any, path: str, name: str | None, refs: _Expanding) -> Any:
        """A value ``schema`` accepts, derived from the call; ``refs``: the ``$ref`` being expanded."""
        if not isinstance(schema, dict):
            return self.text(name)
        ref = schema.get("$ref")
        if isinstance(ref, str):
            first = next((where for seen, where in refs if seen == ref), None)
            if first is not None:
                raise _RequiredCycle(first)
            return self.document(_resolve(ref, self.root, self.anchors), path, name, (*refs, (ref, path)))
        for keyword in ("anyOf", "oneOf"):
            options = schema.get(keyword)
            if isinstance(options, list) and options:
                return self.document(options[0], _inside(path, f"{keyword}.0"), name, refs)
        options = schema.get("enum")
        if isinstance(options, list) and options:
            # A deterministic choice that differs between calls, so that several personas do not all agree.
            seed = f"{self.call.system_text}\n{self.call.user_text}\n{path}".encode()
            return options[zlib.crc32(seed) % len(options)]
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        if kind == "object":
            return self.object(schema, path, refs)
        if kind == "array":
            return self.array(schema, path, name, refs)
        if kind in ("number", "integer"):
            return _number(schema, integer=kind == "integer")
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return _STRING_FORMATS.get(str(schema.get("format")), self.text(name))

    def object(self, schema: JsonDict, path: str, refs: _Expanding) -> JsonDict:
        """Every property, in ``propertyOrdering`` then schema order; an optional one that would only
        repeat a ``$ref`` being expanded is left out (Google unrolls cycles "to a limited degree")."""
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = _names(schema.get("required"))
        ordering = [n for n in _names(schema.get("propertyOrdering")) if n in properties]
        document: JsonDict = {}
        for prop in [*dict.fromkeys(ordering), *(n for n in properties if n not in ordering)]:
            try:
                document[prop] = self.document(
                    properties[prop], _inside(path, f"properties.{prop}"), prop, refs
                )
            except _RequiredCycle:
                if prop in required:
                    raise
        for prop in required:
            document.setdefault(prop, self.text(prop))
        return document

    def array(self, schema: JsonDict, path: str, name: str | None, refs: _Expanding) -> list[Any]:
        """``prefixItems`` then ``items``: at least one item and ``minItems``, at most ``maxItems``."""
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        fewest = _bound(schema.get("minItems")) or 0
        most = _bound(schema.get("maxItems"))
        count = max(int(fewest), len(prefix), 1)
        if most is not None:
            count = min(count, int(most))
        items: list[Any] = []
        for i in range(count):
            child, where = (
                (prefix[i], f"prefixItems.{i}") if i < len(prefix) else (schema.get("items"), "items")
            )
            try:
                items.append(self.document(child, _inside(path, where), name, refs))
            except _RequiredCycle:
                if len(items) < fewest:
                    raise
                break
        return items

    def text(self, name: str | None) -> str:
        return f"[{self.call.model}] {name or 'reply to'}: {self.call.user_text[:60]}"


def _names(value: Any) -> list[str]:
    """The property names a ``required`` or ``propertyOrdering`` list holds (none if it is no list)."""
    return [n for n in value if isinstance(n, str)] if isinstance(value, list) else []


def _bound(value: Any) -> float | None:
    """A numeric schema bound, or None when absent or not a number."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _number(schema: JsonDict, *, integer: bool) -> int | float:
    """The middle of ``minimum``..``maximum``, the one bound given, or 0."""
    low, high = _bound(schema.get("minimum")), _bound(schema.get("maximum"))
    if integer:
        low = None if low is None else float(math.ceil(low))
        high = None if high is None else float(math.floor(high))
    if low is not None and high is not None:
        value = (low + high) / 2
    else:
        value = low if low is not None else high if high is not None else 0.0
    return math.floor(value) if integer else value


def _check_schema_refs(schema: Any) -> dict[str, Any]:
    """Google's 400 for a ``$ref`` beside other keywords or one that names nothing; the ``$anchor`` map."""
    anchors = {
        node["$anchor"]: node for node, _ in _subschemas(schema) if isinstance(node.get("$anchor"), str)
    }
    for node, path in _subschemas(schema):
        ref = node.get("$ref")
        if ref is None:
            continue
        where = f"schema at {path}" if path else "schema"
        if any(not key.startswith("$") for key in node):
            raise _invalid(f"{where} can only contain properties starting with '$' when $ref is present")
        if not isinstance(ref, str) or _resolve(ref, schema, anchors) is _UNRESOLVED:
            raise _request_problem(
                "response_json_schema", f"{where}: $ref {json.dumps(ref)} does not resolve"
            )
    return anchors


def _structured_default(call: GeminiCall, request: Any) -> str | None:
    """The JSON text an unscripted answer is when the request asks for JSON (None otherwise), after
    refusing, as Google does, a structured-output configuration the API does not take."""
    config = request.generation_config
    if not _has(config, "response_json_schema"):
        return None  # v1: a request naming either field was refused by the generated types
    if not config.HasField("response_json_schema"):
        return json.dumps(_default_text(call)) if config.response_mime_type == JSON_MIME_TYPE else None
    if config.HasField("response_schema"):
        raise _request_problem(
            "response_schema", "must be omitted when response_json_schema is set; set only one of them"
        )
    if config.response_mime_type != JSON_MIME_TYPE:
        got = json.dumps(config.response_mime_type)
        raise _request_problem(
            "response_mime_type", f"must be {JSON_MIME_TYPE} when response_json_schema is set, got {got}"
        )
    schema = _Schema(call.response_schema, _check_schema_refs(call.response_schema), call)
    try:
        document = schema.document(schema.root, "", None, ())
    except _RequiredCycle as cycle:
        raise _request_problem(
            "response_json_schema",
            f"schema at {cycle.path or 'the root'} refers back to itself through required properties; "
            "cyclic references may only be used within non-required properties",
        ) from None
    return json.dumps(document, ensure_ascii=False)


# ------------------------------------------------------------------------------------------------ thinking
#
# thinkingLevel is the documented way to set how much Gemini 3 models think
# (https://ai.google.dev/gemini-api/docs/thinking, https://ai.google.dev/gemini-api/docs/gemini-3), and
# google-genai's own types.ThinkingConfig carries it, but the v1beta ThinkingConfig of
# google-ai-generativelanguage 0.12.1 has only include_thoughts and thinking_budget. So the fake reads that
# one field itself, in v1beta requests only: v1's GenerationConfig has no thinkingConfig at all, so a v1
# request naming one is refused by the generated types above. Its values are those of google-genai's
# types.ThinkingLevel, by their proto enum names or in the lower case of Google's REST examples.

_LEVEL_NAMES = frozenset(level.value for level in genai_types.ThinkingLevel)
_LEVEL_PATH = "generation_config.thinking_config.thinking_level"
_LEVEL_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.ThinkingConfig.ThinkingLevel"
# Thought tokens a level allows, from Google's OpenAI-compatibility mapping of reasoning effort to thinking
# budgets: minimal and low 1,024, medium 8,192, high 24,576 (https://ai.google.dev/gemini-api/docs/openai,
# "Thinking"). The fake spends all of them: the worst case.
_LEVEL_TOKENS: Mapping[str, int] = {"MINIMAL": 1024, "LOW": 1024, "MEDIUM": 8192, "HIGH": 24576}
_ALL_LEVELS = ("MINIMAL", "LOW", "MEDIUM", "HIGH")
_DYNAMIC = -1


@dataclass(frozen=True)
class _ThinkingSpec:
    """How a model family thinks, as Google documents it.

    ``levels`` are the thinkingLevel values it takes (none: budgets only), ``default_level`` the one it
    thinks at when a request names neither level nor budget, ``budgets`` the thinkingBudget range besides -1
    (dynamic) and 0, ``can_disable`` whether 0 turns thinking off, ``default_budget`` the budget a model
    without levels thinks with by default.
    """

    levels: tuple[str, ...]
    default_level: str | None
    budgets: tuple[int, int]
    can_disable: bool
    default_budget: int = _DYNAMIC


# Budget ranges per family from the thinking guide's table (2.5 Pro 128-32,768 and thinking cannot be
# turned off; 2.5 Flash 0-24,576; 2.5 Flash-Lite 512-24,576, 0 turns it off and it does not think by
# default: https://ai.google.dev/gemini-api/docs/thinking#set-budget); Gemini 3 models still take budgets
# "for backwards compatibility" (same page) and keep their family's range. Levels and defaults: Gemini 3
# Pro takes low and high only and defaults to high (https://ai.google.dev/gemini-api/docs/gemini-3);
# gemini-3.5-flash takes all four and defaults to medium, 3.1 Pro low/medium/high (default high),
# gemini-3.1-flash-lite all four (default minimal): the model table of
# https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/guides/gemini-3-5-flash, which also
# says 3.5 Flash moved the default from high (Gemini 3 Flash's) to medium.
_PRO_BUDGETS, _FLASH_BUDGETS, _LITE_BUDGETS = (128, 32768), (0, 24576), (512, 24576)
_THINKING_SPECS: tuple[tuple[str, _ThinkingSpec], ...] = (
    (r"gemini-2\.5-pro", _ThinkingSpec((), None, _PRO_BUDGETS, can_disable=False)),
    (r"gemini-2\.5-flash-lite", _ThinkingSpec((), None, _LITE_BUDGETS, can_disable=True, default_budget=0)),
    (r"gemini-2\.5-flash", _ThinkingSpec((), None, _FLASH_BUDGETS, can_disable=True)),
    (r"gemini-3-pro", _ThinkingSpec(("LOW", "HIGH"), "HIGH", _PRO_BUDGETS, can_disable=False)),
    (r"gemini-3\.\d+-pro", _ThinkingSpec(("LOW", "MEDIUM", "HIGH"), "HIGH", _PRO_BUDGETS, can_disable=False)),
    (r"gemini-3(\.\d+)?-flash-lite", _ThinkingSpec(_ALL_LEVELS, "MINIMAL", _LITE_BUDGETS, can_disable=True)),
    (r"gemini-3-flash", _ThinkingSpec(_ALL_LEVELS, "HIGH", _FLASH_BUDGETS, can_disable=True)),
    (r"gemini-3\.\d+-flash", _ThinkingSpec(_ALL_LEVELS, "MEDIUM", _FLASH_BUDGETS, can_disable=True)),
)


def thinking_spec(model: str) -> _ThinkingSpec:
    """The documented thinking behaviour of ``model`` (a name with an optional ``-preview…`` suffix)."""
    for pattern, spec in _THINKING_SPECS:
        if re.fullmatch(pattern + r"(-preview.*|-\d{3})?", model):
            return spec
    raise ValueError(f"the fake knows no documented thinking behaviour for {model!r}")


@dataclass(frozen=True)
class _Thinking:
    """What one request thinks: the level (None when a budget governs), the budget asked for, the thought
    tokens the fake spends, and whether thought summaries were asked for."""

    level: str | None
    budget: int | None
    tokens: int
    include_thoughts: bool


def _take_thinking_level(version: str, body: JsonDict) -> tuple[JsonDict, Any]:
    """A copy of ``body`` without v1beta's ``thinkingConfig.thinkingLevel``, and that level as sent."""
    if version != "v1beta":
        return body, None
    for config_key in ("generationConfig", "generation_config"):
        config = body.get(config_key)
        if not isinstance(config, dict):
            continue
        for thinking_key in ("thinkingConfig", "thinking_config"):
            thinking = config.get(thinking_key)
            if not isinstance(thinking, dict):
                continue
            for level_key in ("thinkingLevel", "thinking_level"):
                if level_key in thinking:
                    stripped = copy.deepcopy(body)
                    return stripped, stripped[config_key][thinking_key].pop(level_key)
    return body, None


def _thinking_level(raw: Any) -> str | None:
    """The level named by ``raw`` (None when unset); Google's "Invalid value" 400 for anything else."""
    if raw is None:
        return None
    if isinstance(raw, str) and (raw in _LEVEL_NAMES or (raw.islower() and raw.upper() in _LEVEL_NAMES)):
        name = raw.upper()
        return None if name == genai_types.ThinkingLevel.THINKING_LEVEL_UNSPECIFIED.value else name
    raise _bad_request(f"Invalid value at '{_LEVEL_PATH}' ({_LEVEL_TYPE}), {json.dumps(raw)}", _LEVEL_PATH)


def _plan_thinking(model: str, level: str | None, request: Any) -> _Thinking:
    """What ``model`` thinks for ``request``; the 400 Gemini answers a thinking configuration it refuses."""
    spec = thinking_spec(model)
    config = request.generation_config
    thinking = config.thinking_config if _has(config, "thinking_config") else None
    budget = (
        thinking.thinking_budget if thinking is not None and thinking.HasField("thinking_budget") else None
    )
    include = bool(thinking is not None and thinking.include_thoughts)
    low, high = spec.budgets
    if level is not None and budget is not None:
        # "You cannot use both thinkingLevel and thinkingBudget in the same request"
        # (https://ai.google.dev/gemini-api/docs/thinking); the 400 as sent:
        # https://github.com/sterlp/eclipse-peon-ai/issues/115
        raise _invalid("You can only set only one of thinking budget and thinking level.")
    if level is not None:
        if level not in spec.levels:
            # The API's words: https://discuss.ai.google.dev/t/gemini-3-preview-openai-compatible-rejects-
            # reasoning-effort-medium-works-with-low-and-high/112648
            raise _invalid(
                f"Thinking level {level} is not supported for this model. "
                "Please retry with other thinking level"
            )
        return _Thinking(level, None, min(_LEVEL_TOKENS[level], high), include)
    if budget is not None:
        if budget == 0 and not spec.can_disable:
            # https://ai.google.dev/gemini-api/docs/thinking#set-budget ("Cannot disable thinking"); the 400
            # as Gemini words it: https://github.com/vercel/ai/issues/8027
            raise _invalid("Budget 0 is invalid. This model only works in thinking mode.")
        if budget not in (_DYNAMIC, 0) and not low <= budget <= high:
            # Out of the documented range; the 400: https://github.com/RooCodeInc/Roo-Code/issues/4399
            raise _invalid(f"The thinking budget ({budget}) is invalid.")
        return _Thinking(None, budget, high if budget == _DYNAMIC else budget, include)
    if spec.default_level is not None:
        return _Thinking(spec.default_level, None, min(_LEVEL_TOKENS[spec.default_level], high), include)
    return _Thinking(None, None, high if spec.default_budget == _DYNAMIC else spec.default_budget, include)


# ----------------------------------------------------------------------------------------------- grounding
#
# Grounding with Google Search (https://ai.google.dev/gemini-api/docs/google-search): a request names the
# tool as ``tools: [{"googleSearch": {}}]`` (``google_search`` in the v1beta Tool of
# google-ai-generativelanguage; v1's GenerateContentRequest has no ``tools``, so the generated types
# refuse it there). A grounded answer's candidate carries ``groundingMetadata``: ``webSearchQueries`` (the
# searches run), ``searchEntryPoint.renderedContent`` (HTML and CSS showing them as Google Search
# suggestions), ``groundingChunks`` (``web.uri`` and ``web.title``: on that page, redirect addresses under
# vertexaisearch.cloud.google.com titled with the site's domain) and ``groundingSupports`` (a segment of the
# answer, with start and end indexes in bytes of its part as the v1beta Segment defines them, and the
# chunks that support it). When the model answers without searching there is no groundingMetadata (the
# same page's legacy example tests for its absence). Streamed, the metadata comes with the last event.
#
# Structured output with the search tool: "Gemini 3 lets you combine Structured Outputs with built-in
# tools, including Grounding with Google Search" (https://ai.google.dev/gemini-api/docs/structured-output,
# "Structured outputs with tools"); earlier models refuse the pair with "Unable to submit request because
# controlled generation is not supported with google_search tool."
# (https://github.com/googleapis/python-genai/issues/665, with gemini-2.x).

_REDIRECT_URL = "https://vertexaisearch.cloud.google.com/grounding-api-redirect/"
_DEFAULT_SITES = ("example.com", "example.org")  # RFC 2606 example domains: no real site is cited
_GEMINI_3 = re.compile(r"gemini-3(\.\d+)?-")
_SENTENCE = re.compile(r"[^.!?]+[.!?]*\s*|[.!?]+\s*")


def _check_grounding(call: GeminiCall, request: Any) -> None:
    """Refuse, as models before Gemini 3 do, structured output together with the search tool."""
    if not call.grounded or _GEMINI_3.match(call.model):
        return
    config = request.generation_config
    if config.response_mime_type == JSON_MIME_TYPE or (
        _has(config, "response_json_schema") and config.HasField("response_json_schema")
    ):
        raise _invalid(
            "Unable to submit request because controlled generation is not supported with google_search tool."
        )


def _default_sources(call: GeminiCall) -> tuple[WebSource, ...]:
    """Sources derived from the request: one redirect address per example site, stable per request."""
    seed = f"{call.system_text}\n{call.user_text}"
    return tuple(
        WebSource(site, f"{_REDIRECT_URL}{zlib.crc32(f'{site}{seed}'.encode()):08x}")
        for site in _DEFAULT_SITES
    )


def _default_queries(call: GeminiCall) -> tuple[str, ...]:
    """One search for the start of the user text."""
    words = " ".join(call.user_text.split())[:60].strip()
    return (words or call.model,)


def _suggestions_html(queries: Sequence[str]) -> str:
    """A ``searchEntryPoint.renderedContent``: the queries as chips linking to Google Search."""
    chips = "".join(
        f'<a class="chip" href="https://www.google.com/search?q={quote_plus(query)}">{html.escape(query)}</a>'
        for query in queries
    )
    return (
        "<style>.container{display:flex}.chip{border-radius:16px;padding:6px 12px}</style>"
        f'<div class="container"><div class="carousel">{chips}</div></div>'
    )


def _grounding_metadata(call: GeminiCall, reply: Reply, text: str) -> JsonDict | None:
    """The ``groundingMetadata`` of ``reply`` to ``call`` (answer ``text``), or None when it has none."""
    if not call.grounded or not text:
        return None
    sources = _default_sources(call) if reply.sources is None else reply.sources
    if not sources:
        return None
    queries = _default_queries(call) if reply.search_queries is None else reply.search_queries
    supports: list[JsonDict] = []
    start = 0
    for i, sentence in enumerate(_SENTENCE.findall(text)):
        end = start + len(sentence.encode())
        segment: JsonDict = {"endIndex": end, "text": sentence}
        if start:
            segment["startIndex"] = start  # proto3 JSON leaves zero out
        supports.append({"segment": segment, "groundingChunkIndices": [i % len(sources)]})
        start = end
    metadata: JsonDict = {
        "groundingChunks": [{"web": {"uri": source.uri, "title": source.title}} for source in sources],
        "groundingSupports": supports,
    }
    if queries:
        metadata["webSearchQueries"] = list(queries)
        metadata["searchEntryPoint"] = {"renderedContent": _suggestions_html(queries)}
    return metadata


# ---------------------------------------------------------------------------------------- response bodies

_STREAM_CHUNKS = 4  # a default streamed reply arrives in up to this many events, as Google streams text


def _usage_json(usage: Usage) -> JsonDict:
    """``usageMetadata``; zero counts are omitted, as proto3 JSON does. Thought tokens are in the total."""
    out: JsonDict = {}
    if usage.prompt:
        out["promptTokenCount"] = usage.prompt
    if usage.candidates:
        out["candidatesTokenCount"] = usage.candidates
    out["totalTokenCount"] = usage.prompt + usage.candidates + usage.thoughts
    if usage.prompt:
        out["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": usage.prompt}]
    if usage.thoughts:
        out["thoughtsTokenCount"] = usage.thoughts
    return out


def _candidate(parts: Sequence[JsonDict], index: int, finish_reason: str | None) -> JsonDict:
    """A candidate; no ``parts`` gives a content without parts, as when no token was emitted."""
    content: JsonDict = {"parts": list(parts), "role": "model"} if parts else {"role": "model"}
    candidate: JsonDict = {"content": content}
    if finish_reason:
        candidate["finishReason"] = finish_reason
    candidate["index"] = index
    return candidate


def _safety_ratings(blocked_category: str) -> list[JsonDict]:
    ratings = []
    for category in ("SEXUALLY_EXPLICIT", "HATE_SPEECH", "HARASSMENT", "DANGEROUS_CONTENT"):
        rating: JsonDict = {"category": f"HARM_CATEGORY_{category}", "probability": "NEGLIGIBLE"}
        if category == blocked_category:
            rating |= {"probability": "HIGH", "blocked": True}
        ratings.append(rating)
    return ratings


def word_chunks(text: str, count: int = _STREAM_CHUNKS) -> list[str]:
    """``text`` in up to ``count`` pieces of whole words (with their trailing spaces), joining to ``text``."""
    words = re.findall(r"\s*\S+\s*", text)
    if len(words) < 2:
        return [text]
    n = min(count, len(words))
    return ["".join(words[k * len(words) // n : (k + 1) * len(words) // n]) for k in range(n)]


def even_chunks(text: str, count: int) -> list[str]:
    """``text`` in ``count`` consecutive pieces of near-equal length (fewer when it is shorter)."""
    if count < 1:
        raise ValueError(f"cannot split text into {count} pieces")
    n = max(1, min(count, len(text)))
    return [text[k * len(text) // n : (k + 1) * len(text) // n] for k in range(n)]


def _cut(chunks: Sequence[str], length: int) -> list[str]:
    """The first ``length`` characters of ``chunks``, chunked as they were."""
    kept: list[str] = []
    for chunk in chunks:
        if length <= 0:
            break
        kept.append(chunk[:length])
        length -= len(chunk)
    return kept


@dataclass(frozen=True)
class _Answer:
    """A reply as the model delivers it: text chunks (none when no answer token fit), finish reason, usage,
    and the thought summary that comes first when one was asked for."""

    chunks: tuple[str, ...]
    finish_reason: str
    usage: Usage
    thought_summary: str | None


def _answer(call: GeminiCall, reply: Reply, candidates: int, thinking: _Thinking) -> _Answer:
    """``reply`` after thinking. Thought tokens count against ``maxOutputTokens`` with the answer's
    (https://github.com/googleapis/python-genai/issues/2062 on Gemini 3), so what does not fit after them is
    cut off where the limit falls, with finishReason MAX_TOKENS, and a model that thought up to the limit
    sends no text part at all (https://github.com/stanford-crfm/helm/pull/3804,
    https://github.com/googleapis/python-genai/issues/811). An explicit ``Reply.usage`` replaces the
    emulation: its counts are reported and the text is sent as scripted."""
    stream = call.method == "streamGenerateContent"
    chunks = list(reply.chunks) if reply.chunks is not None else word_chunks(reply.text)
    if not stream:
        chunks = [reply.text]
    if reply.usage is not None:
        summary = _thought_summary(call) if thinking.include_thoughts and reply.usage.thoughts else None
        return _Answer(tuple(chunks), reply.finish_reason, reply.usage, summary)
    thoughts = min(thinking.tokens, call.max_output_tokens)
    room = call.max_output_tokens - thoughts
    finish = reply.finish_reason
    text = reply.text
    if count_tokens(text) > room:
        text, finish = text[: room * 4], "MAX_TOKENS"  # room * 4 characters are ``room`` tokens
        chunks = _cut(chunks, len(text))
    usage = Usage(call.prompt_tokens, candidates * count_tokens(text), thoughts)
    summary = _thought_summary(call) if thinking.include_thoughts and thoughts else None
    return _Answer(tuple(chunks), finish, usage, summary)


def _record(call: GeminiCall, finish_reason: str | None, usage: Usage) -> None:
    call.finish_reason, call.usage, call.thoughts_tokens = finish_reason, usage, usage.thoughts


def _thought_summary(call: GeminiCall) -> str:
    return f"**Weighing the question**\nThinking about: {call.user_text[:60]}"


def _payloads(call: GeminiCall, outcome: Outcome, thinking: _Thinking) -> list[JsonDict]:
    """The answer's JSON objects: one for generateContent, one per SSE event for streaming."""
    stamp = {"modelVersion": call.model, "responseId": secrets.token_urlsafe(16)}
    if isinstance(outcome, Fault):
        usage = Usage(call.prompt_tokens, 0)
        if outcome.kind == "blocked_prompt":
            feedback = {"blockReason": "SAFETY", "safetyRatings": _safety_ratings("HARASSMENT")}
            _record(call, None, usage)
            return [{"promptFeedback": feedback, "usageMetadata": _usage_json(usage)} | stamp]
        if outcome.kind == "max_tokens":
            parts = [{"text": outcome.text}] if outcome.text else []
            candidates = [_candidate(parts, 0, "MAX_TOKENS")]
            written = count_tokens(outcome.text)
            usage = Usage(call.prompt_tokens, written, max(0, call.max_output_tokens - written))
        elif outcome.kind == "blocked_reply":
            candidates = [
                {"finishReason": "SAFETY", "index": 0, "safetyRatings": _safety_ratings("HARASSMENT")}
            ]
        else:
            candidates = [{"finishReason": "RECITATION", "index": 0}]
        _record(call, candidates[0]["finishReason"], usage)
        return [{"candidates": candidates, "usageMetadata": _usage_json(usage)} | stamp]
    n = call.candidate_count
    answer = _answer(call, outcome, n, thinking)
    _record(call, answer.finish_reason, answer.usage)
    thought = [{"text": answer.thought_summary, "thought": True}] if answer.thought_summary else []
    events: list[list[JsonDict]] = [thought] if thought else []
    if call.method == "generateContent":
        events = [[*thought, {"text": "".join(answer.chunks)}] if answer.chunks else thought]
    else:
        events += [[{"text": chunk}] for chunk in answer.chunks]
    events = events or [[]]
    payloads = []
    grounding = _grounding_metadata(call, outcome, "".join(answer.chunks))
    for i, parts in enumerate(events):
        last = i == len(events) - 1
        payload: JsonDict = {
            "candidates": [_candidate(parts, k, answer.finish_reason if last else None) for k in range(n)]
        }
        if last:
            if grounding is not None:
                for candidate in payload["candidates"]:
                    candidate["groundingMetadata"] = grounding
            payload["usageMetadata"] = _usage_json(answer.usage)
        payloads.append(payload | stamp)
    return payloads


class FakeGemini:
    """A Gemini API on 127.0.0.1 (ephemeral port) in the running event loop; see the module docstring."""

    def __init__(
        self,
        api_key: str = "test-gemini-key",
        models: Sequence[str] = ("gemini-3.1-flash-lite", "gemini-3.5-flash"),
        responder: Callable[[GeminiCall], Outcome] | None = None,
    ) -> None:
        self.api_key = api_key
        self.responder = responder
        self.models = tuple(models)
        for model in self.models:
            thinking_spec(model)  # every model served thinks as documented
        self.calls: list[GeminiCall] = []
        self._scripts: list[Script] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._arrival = asyncio.Event()
        self._closing = asyncio.Event()
        self.in_flight = 0
        """``generateContent``/``streamGenerateContent`` requests being answered now (a stream until its
        last event): a plain counter, as the caller's concurrency cap sees them."""
        self.most_in_flight = 0
        """The most requests that were ever in flight at once (the high-water mark of :attr:`in_flight`)."""

    @property
    def base_url(self) -> str:
        """The ``HttpOptions(base_url=...)`` that points google-genai at this fake."""
        if self._port is None:
            raise RuntimeError("FakeGemini is not started")
        return f"http://127.0.0.1:{self._port}"

    def script(self, match: str | Callable[[GeminiCall], bool], *outcomes: Outcome) -> Script:
        """Answer calls matching ``match`` (a system-instruction substring or a predicate) with ``outcomes``.

        Each matching call consumes the next outcome and the last one repeats; later scripts take priority.
        """
        if not outcomes:
            raise ValueError("script() needs at least one outcome")
        script = Script(_system_contains(match) if isinstance(match, str) else match, outcomes)
        self._scripts.append(script)
        return script

    async def wait_for_calls(self, n: int, timeout: float = 5.0) -> list[GeminiCall]:  # noqa: ASYNC109
        """Wait until at least ``n`` calls arrived and return them all; TimeoutError otherwise."""
        try:
            async with asyncio.timeout(timeout):
                while len(self.calls) < n:
                    self._arrival.clear()
                    await self._arrival.wait()
        except TimeoutError:
            raise TimeoutError(
                f"expected {n} Gemini calls within {timeout}s, got {len(self.calls)}"
            ) from None
        return list(self.calls)

    async def start(self) -> None:
        """Start serving on an ephemeral loopback port."""
        self._closing.clear()
        app = web.Application()
        app.router.add_post(_ROUTE + "/{target}", self._generate)
        app.router.add_get(_ROUTE, self._list_models)
        app.router.add_get(_ROUTE + "/{model}", self._get_model)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        # Handlers are cancelled when their client disconnects, so a hung or slow answer dies with its caller.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def close(self) -> None:
        """Stop serving; pending answers (hangs, latencies) end with a 503 first."""
        self._closing.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------------------------------ handlers

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        version = request.match_info["version"]
        model, _, method = request.match_info["target"].partition(":")
        if method not in _METHODS:
            return await self._respond(request, _NOT_FOUND.code, _NOT_FOUND.body())
        call = GeminiCall(len(self.calls), version, model, cast(Method, method), t_received=time.monotonic())
        self.calls.append(call)
        self._arrival.set()
        try:
            self._check_key(request)
            call.api_key_ok = True
            raw = await request.read()
            body = _parse_body(raw)
            call.body = body if raw.strip() else None
            typed_body, raw_level = (
                _take_thinking_level(version, body) if isinstance(body, dict) else (body, None)
            )
            parsed = _parse(version, "GenerateContentRequest", typed_body)
            level = _thinking_level(raw_level)
            _describe(call, parsed, body)
            if model not in self.models:
                raise _ApiError(
                    404,
                    "NOT_FOUND",
                    f"models/{model} is not found for API version {version}, or is not supported for "
                    f"{method}. Call ListModels to see the list of available models and their supported "
                    "methods.",
                )
            _check_semantics(parsed)
            _check_grounding(call, parsed)
            structured_default = _structured_default(call, parsed)
            thinking = _plan_thinking(model, level, parsed)
        except _ApiError as err:
            return await self._respond(request, err.code, err.body(), call)
        call.thinking_level, call.thinking_budget = thinking.level, thinking.budget
        call.include_thoughts = thinking.include_thoughts
        outcome = call.outcome = self._pick(call, structured_default)
        hang = isinstance(outcome, Fault) and outcome.kind == "hang"
        if not await self._pause(None if hang else outcome.latency):
            return await self._respond(request, _SHUTTING_DOWN.code, _SHUTTING_DOWN.body(), call)
        if isinstance(outcome, Fault) and (error := _fault_error(outcome, model)) is not None:
            return await self._respond(request, error.code, error.body(), call)
        payloads = _payloads(call, outcome, thinking)
        for payload in payloads:
            _check_answer(version, "GenerateContentResponse", payload)
        if method == "generateContent":
            return await self._respond(request, 200, payloads[0], call)
        if request.query.get("alt") != "sse":  # without alt=sse the API streams one JSON array
            return await self._respond(request, 200, payloads, call)
        return await self._stream(
            request, call, payloads, outcome.chunk_delay if isinstance(outcome, Reply) else 0
        )

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        version = request.match_info["version"]
        try:
            self._check_key(request)
            listing = _parse_query(version, "ListModelsRequest", request.query, {})
            size = listing.page_size or 50
            try:
                start = int(listing.page_token or 0)
            except ValueError:
                raise _invalid("Invalid page token.") from None
        except _ApiError as err:
            return await self._respond(request, err.code, err.body())
        payload: JsonDict = {
            "models": [self._model_info(m) for m in self.models[start : start + max(size, 1)]]
        }
        if start + max(size, 1) < len(self.models):
            payload["nextPageToken"] = str(start + max(size, 1))
        _check_answer(version, "ListModelsResponse", payload)
        return await self._respond(request, 200, payload)

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        model, version = request.match_info["model"], request.match_info["version"]
        try:
            self._check_key(request)
            _parse_query(version, "GetModelRequest", request.query, {"name": f"models/{model}"})
            if model not in self.models:
                raise _ApiError(
                    404, "NOT_FOUND", f"Model is not found: models/{model} for api version {version}"
                )
        except _ApiError as err:
            return await self._respond(request, err.code, err.body())
        payload = self._model_info(model)
        _check_answer(version, "Model", payload)
        return await self._respond(request, 200, payload)

    async def _unknown(self, request: web.Request) -> web.StreamResponse:
        return await self._respond(request, _NOT_FOUND.code, _NOT_FOUND.body())

    # ------------------------------------------------------------------------------------------- helpers

    def _check_key(self, request: web.Request) -> None:
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            raise _MISSING_KEY
        if key != self.api_key:
            raise _BAD_KEY

    def _pick(self, call: GeminiCall, structured_default: str | None) -> Outcome:
        """A script's next outcome, else the responder's, else the default: a reply derived from the
        request, or the JSON document the request's schema asks for (``structured_default``)."""
        for script in reversed(self._scripts):
            if script.match(call):
                return script.take()
        if self.responder is not None:
            return self.responder(call)
        return Reply(_default_text(call) if structured_default is None else structured_default)

    async def _pause(self, seconds: float | None) -> bool:
        """Sleep ``seconds`` (None: forever); False when the fake began closing meanwhile."""
        if seconds is not None and seconds <= 0:
            return not self._closing.is_set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._closing.wait()
        return not self._closing.is_set()

    def _model_info(self, model: str) -> JsonDict:
        return {
            "name": f"models/{model}",
            "version": "001",
            "displayName": " ".join(word.capitalize() for word in model.split("-")),
            "description": f"{model} as served by the Parley test fake.",
            "inputTokenLimit": _INPUT_TOKEN_LIMIT,
            "outputTokenLimit": _OUTPUT_TOKEN_LIMIT,
            "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent"],
            "temperature": 1,
            "topP": 0.95,
            "topK": 64,
            "maxTemperature": 2,
            "thinking": True,
        }

    async def _respond(
        self, request: web.Request, status: int, payload: Any, call: GeminiCall | None = None
    ) -> web.Response:
        """Send a complete JSON answer, pretty-printed like Google's, and stamp the call."""
        text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
        response = web.Response(status=status, text=text, content_type="application/json", charset="UTF-8")
        await response.prepare(request)
        await response.write_eof()
        if call is not None:
            call.status, call.t_responded = status, time.monotonic()
        return response

    async def _stream(
        self, request: web.Request, call: GeminiCall, payloads: list[JsonDict], chunk_delay: float
    ) -> web.StreamResponse:
        """Send ``payloads`` as SSE events (``data: {json}`` + CRLF CRLF), ``chunk_delay`` apart."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Content-Disposition": "attachment"}
        )
        await response.prepare(request)
        call.status = 200
        for i, payload in enumerate(payloads):
            if i and not await self._pause(chunk_delay):
                return response
            await response.write(b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\r\n\r\n")
            if call.t_first_event is None:
                call.t_first_event = time.monotonic()
        await response.write_eof()
        call.t_responded = time.monotonic()
        return response
