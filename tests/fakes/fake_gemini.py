"""Loopback fake of the Gemini Developer API (REST + SSE), driven in tests by the real google-genai client.

The fake speaks the wire protocol google-genai parses (``generateContent``, ``streamGenerateContent?alt=sse``,
``models`` listing), rejects what Gemini rejects with Google's error bodies, and answers from scripts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self, TypeAlias, cast

from aiohttp import web

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
_INPUT_TOKEN_LIMIT = 1_048_576
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
class Reply:
    """A successful answer; for streaming calls ``chunks`` (joining to ``text``) become the SSE events."""

    text: str
    latency: float = 0.0
    finish_reason: str = "STOP"
    chunks: Sequence[str] | None = None
    chunk_delay: float = 0.0
    usage: Usage | None = None

    def __post_init__(self) -> None:
        if self.chunks is not None:
            object.__setattr__(self, "chunks", tuple(self.chunks))
            if "".join(self.chunks) != self.text:
                raise ValueError(f"Reply.chunks {self.chunks!r} do not join to Reply.text {self.text!r}")


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
    """One request that reached a generate route, as the fake received and answered it."""

    index: int
    api_version: str
    model: str
    method: Method
    t_received: float
    body: Any = None
    system_text: str = ""
    user_text: str = ""
    generation_config: JsonDict = field(default_factory=dict)
    prompt_tokens: int = 0
    t_responded: float | None = None
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

_ANY = ""  # any JSON value
_STR, _FLOAT, _INT, _BOOL = "TYPE_STRING", "TYPE_FLOAT", "TYPE_INT32", "TYPE_BOOL"
_SCALAR_OK: dict[str, Callable[[Any], bool]] = {
    _STR: lambda v: isinstance(v, str),
    _FLOAT: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    _INT: lambda v: (
        (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    ),
    _BOOL: lambda v: isinstance(v, bool),
}


@dataclass(frozen=True)
class _Rep:
    """A repeated field (JSON array) of ``item``."""

    item: _Spec


@dataclass(frozen=True)
class _Msg:
    """A proto message: its name and its fields by JSON (lowerCamel) name."""

    name: str
    fields: Mapping[str, _Spec]


_Spec: TypeAlias = "_Msg | _Rep | str"

_DATA_NAMES = "text inlineData fileData functionCall functionResponse executableCode codeExecutionResult"
_DATA_FIELDS = (*_DATA_NAMES.split(), "toolCall", "toolResponse")  # Part's `data` oneof


def _opaque(names: str) -> dict[str, _Spec]:
    """Fields whose content the fake does not inspect."""
    return dict.fromkeys(names.split(), _ANY)


_CONTENT = _Msg(
    "Content",
    {
        "parts": _Rep(
            _Msg(
                "Part",
                _opaque(" ".join(_DATA_FIELDS) + " videoMetadata partMetadata mediaResolution")
                | {"text": _STR, "thought": _BOOL, "thoughtSignature": _STR},
            )
        ),
        "role": _STR,
    },
)
_GENERATION_CONFIG = _Msg(
    "GenerationConfig",
    _opaque("responseSchema responseJsonSchema speechConfig imageConfig audioTranscriptionConfig")
    | {
        "stopSequences": _Rep(_STR),
        "responseMimeType": _STR,
        "responseModalities": _Rep(_STR),
        "candidateCount": _INT,
        "maxOutputTokens": _INT,
        "temperature": _FLOAT,
        "topP": _FLOAT,
        "topK": _INT,
        "seed": _INT,
        "presencePenalty": _FLOAT,
        "frequencyPenalty": _FLOAT,
        "responseLogprobs": _BOOL,
        "logprobs": _INT,
        "enableEnhancedCivicAnswers": _BOOL,
        "mediaResolution": _STR,
        "thinkingConfig": _Msg(
            "ThinkingConfig", {"includeThoughts": _BOOL, "thinkingBudget": _INT, "thinkingLevel": _STR}
        ),
    },
)
_TOOL_NAMES = "functionDeclarations googleSearchRetrieval codeExecution googleSearch urlContext computerUse"
_REQUEST = _Msg(
    "GenerateContentRequest",
    _opaque("labels serviceTier continuationToken")
    | {
        "model": _STR,
        "contents": _Rep(_CONTENT),
        "systemInstruction": _CONTENT,
        "tools": _Rep(_Msg("Tool", _opaque(_TOOL_NAMES + " fileSearch googleMaps mcpServers retrieval"))),
        "toolConfig": _Msg(
            "ToolConfig", _opaque("functionCallingConfig retrievalConfig includeServerSideToolInvocations")
        ),
        "safetySettings": _Rep(_Msg("SafetySetting", {"category": _STR, "threshold": _STR})),
        "generationConfig": _GENERATION_CONFIG,
        "cachedContent": _STR,
        "store": _BOOL,
    },
)
# (field, lowest, highest, complaint) for GenerationConfig values the API range-checks.
_RANGES: tuple[tuple[str, float, float, str], ...] = (
    ("temperature", 0.0, 2.0, "must be in the range [0.0, 2.0]"),
    ("topP", 0.0, 1.0, "must be in the range [0.0, 1.0]"),
    ("maxOutputTokens", 1, math.inf, "must be a positive number"),
    ("candidateCount", 1, 8, "must be in the range [1, 8]"),
)


def _camel(name: str) -> str:
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _get(obj: JsonDict, camel_name: str) -> Any:
    """A field by its JSON name or its proto (snake_case) name, as the API accepts both."""
    return obj.get(camel_name, obj.get(_snake(camel_name)))


def _type_name(spec: _Spec, version: str) -> str:
    if isinstance(spec, _Rep):
        return _type_name(spec.item, version)
    if isinstance(spec, _Msg):
        return f"type.googleapis.com/google.ai.generativelanguage.{version}.{spec.name}"
    return spec


def _check_shape(value: Any, spec: _Spec, path: str, version: str) -> None:
    """Reject unknown field names and mistyped values the way Google's JSON transcoder does."""
    if spec == _ANY:
        return
    if isinstance(spec, _Rep):
        if not isinstance(value, list):
            raise _bad_request(
                f"Invalid value at '{path}' ({_type_name(spec, version)}), {json.dumps(value)}", path
            )
        for i, item in enumerate(value):
            _check_shape(item, spec.item, f"{path}[{i}]", version)
        return
    if isinstance(value, list):
        raise _bad_request(
            "Invalid JSON payload received. Proto field is not repeating, cannot start list.", path
        )
    if isinstance(spec, _Msg):
        if not isinstance(value, dict):
            raise _bad_request(
                f"Invalid value at '{path}' ({_type_name(spec, version)}), {json.dumps(value)}", path
            )
        for key, sub in value.items():
            sub_spec = spec.fields.get(key, spec.fields.get(_camel(key)))
            if sub is None and sub_spec is not None:  # null leaves a field unset
                continue
            if sub_spec is None:
                where = f" at '{path}'" if path else ""
                raise _bad_request(
                    f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.', path
                )
            _check_shape(sub, sub_spec, f"{path}.{_snake(key)}" if path else _snake(key), version)
    elif not _SCALAR_OK[spec](value):
        raise _bad_request(f"Invalid value at '{path}' ({spec}), {json.dumps(value)}", path)


def _parse_body(raw: bytes) -> Any:
    """The request body as JSON ({} when empty); a 400 when it is not JSON."""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        snippet = raw[:40].decode("utf-8", "replace")
        raise _bad_request(f"Invalid JSON payload received. Unexpected token.\n{snippet}\n^") from None


def _part_problems(content: JsonDict, path: str) -> list[str]:
    parts = content.get("parts") or []
    if not parts:
        return [f"{path}.parts: contents.parts must not be empty."]
    return [
        f"{path}.parts[{j}].data: required oneof field 'data' must have one initialized field"
        for j, part in enumerate(parts)
        if all(_get(part, name) in (None, "") for name in _DATA_FIELDS)
    ]


def _check_semantics(body: JsonDict) -> None:
    """Reject well-formed requests Gemini refuses: no contents, bad roles, empty parts, bad config values."""
    contents: list[JsonDict] = body.get("contents") or []
    if any((content.get("role") or "user") not in ("user", "model") for content in contents):
        raise _invalid("Please use a valid role: user, model.")
    problems = [] if contents else ["contents: contents is not specified"]
    for i, content in enumerate(contents):
        problems += _part_problems(content, f"contents[{i}]")
    if (system := _get(body, "systemInstruction")) is not None:
        problems += _part_problems(system, "system_instruction")
    config: JsonDict = _get(body, "generationConfig") or {}
    for name, lowest, highest, complaint in _RANGES:
        value = _get(config, name)
        if value is not None and not lowest <= value <= highest:
            problems.append(f"generation_config.{_snake(name)}: {complaint}, got {value}")
    if problems:
        raise _invalid("".join(f"* GenerateContentRequest.{problem}\n" for problem in problems))


def _texts(content: JsonDict | None) -> list[str]:
    """The non-thought text parts of a Content."""
    parts: list[JsonDict] = (content or {}).get("parts") or []
    return [part["text"] for part in parts if isinstance(part.get("text"), str) and not part.get("thought")]


def _describe(call: GeminiCall, body: JsonDict) -> None:
    """Fill the call's text and config fields from a well-formed request body."""
    contents: list[JsonDict] = body.get("contents") or []
    system = _texts(_get(body, "systemInstruction"))
    call.system_text = "\n".join(system)
    call.user_text = "\n".join(t for c in contents if (c.get("role") or "user") == "user" for t in _texts(c))
    call.generation_config = dict(_get(body, "generationConfig") or {})
    call.prompt_tokens = count_tokens("".join(system + [t for c in contents for t in _texts(c)]))


# ---------------------------------------------------------------------------------------- response bodies


def _usage_json(usage: Usage) -> JsonDict:
    """``usageMetadata``; zero counts are omitted, as proto3 JSON does."""
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


def _candidate(text: str | None, index: int, finish_reason: str | None) -> JsonDict:
    """A candidate; ``text=None`` gives a content without parts, as when no token was emitted."""
    content: JsonDict = {"role": "model"} if text is None else {"parts": [{"text": text}], "role": "model"}
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


def _payloads(call: GeminiCall, outcome: Outcome) -> list[JsonDict]:
    """The answer's JSON objects: one for generateContent, one per SSE event for streaming."""
    stamp = {"modelVersion": call.model, "responseId": secrets.token_urlsafe(16)}
    if isinstance(outcome, Fault):
        usage = Usage(call.prompt_tokens, 0)
        if outcome.kind == "blocked_prompt":
            feedback = {"blockReason": "SAFETY", "safetyRatings": _safety_ratings("HARASSMENT")}
            return [{"promptFeedback": feedback, "usageMetadata": _usage_json(usage)} | stamp]
        if outcome.kind == "max_tokens":
            candidates = [_candidate(outcome.text or None, 0, "MAX_TOKENS")]
            limit = int(_get(call.generation_config, "maxOutputTokens") or 0)
            written = count_tokens(outcome.text)
            usage = Usage(call.prompt_tokens, written, max(0, limit - written))
        elif outcome.kind == "blocked_reply":
            candidates = [
                {"finishReason": "SAFETY", "index": 0, "safetyRatings": _safety_ratings("HARASSMENT")}
            ]
        else:
            candidates = [{"finishReason": "RECITATION", "index": 0}]
        return [{"candidates": candidates, "usageMetadata": _usage_json(usage)} | stamp]
    n = int(_get(call.generation_config, "candidateCount") or 1)
    usage = outcome.usage or Usage(call.prompt_tokens, n * count_tokens(outcome.text))
    stream = call.method == "streamGenerateContent"
    pieces = list(outcome.chunks or [outcome.text]) if stream else [outcome.text]
    payloads = []
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        payload: JsonDict = {
            "candidates": [_candidate(piece, k, outcome.finish_reason if last else None) for k in range(n)]
        }
        if last:
            payload["usageMetadata"] = _usage_json(usage)
        payloads.append(payload | stamp)
    return payloads


# ---------------------------------------------------------------------------------------------- the fake


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
        self.calls: list[GeminiCall] = []
        self._scripts: list[Script] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._arrival = asyncio.Event()
        self._closing = asyncio.Event()

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
            if not isinstance(body, dict):
                raise _bad_request(
                    'Invalid JSON payload received. Unknown name "": Root element must be a message.'
                )
            _check_shape(body, _REQUEST, "", version)
            _describe(call, body)
            if model not in self.models:
                raise _ApiError(
                    404,
                    "NOT_FOUND",
                    f"models/{model} is not found for API version {version}, or is not supported for "
                    f"{method}. Call ListModels to see the list of available models and their supported "
                    "methods.",
                )
            _check_semantics(body)
        except _ApiError as err:
            return await self._respond(request, err.code, err.body(), call)
        outcome = call.outcome = self._pick(call)
        hang = isinstance(outcome, Fault) and outcome.kind == "hang"
        if not await self._pause(None if hang else outcome.latency):
            return await self._respond(request, _SHUTTING_DOWN.code, _SHUTTING_DOWN.body(), call)
        if isinstance(outcome, Fault) and (error := _fault_error(outcome, model)) is not None:
            return await self._respond(request, error.code, error.body(), call)
        payloads = _payloads(call, outcome)
        if method == "generateContent":
            return await self._respond(request, 200, payloads[0], call)
        if request.query.get("alt") != "sse":  # without alt=sse the API streams one JSON array
            return await self._respond(request, 200, payloads, call)
        return await self._stream(
            request, call, payloads, outcome.chunk_delay if isinstance(outcome, Reply) else 0
        )

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        try:
            self._check_key(request)
            size = int(request.query.get("pageSize") or 50)
            start = int(request.query.get("pageToken") or 0)
        except ValueError:
            err = _invalid("Invalid page size or page token.")
            return await self._respond(request, err.code, err.body())
        except _ApiError as err:
            return await self._respond(request, err.code, err.body())
        payload: JsonDict = {
            "models": [self._model_info(m) for m in self.models[start : start + max(size, 1)]]
        }
        if start + max(size, 1) < len(self.models):
            payload["nextPageToken"] = str(start + max(size, 1))
        return await self._respond(request, 200, payload)

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        model, version = request.match_info["model"], request.match_info["version"]
        try:
            self._check_key(request)
            if model not in self.models:
                raise _ApiError(
                    404, "NOT_FOUND", f"Model is not found: models/{model} for api version {version}"
                )
        except _ApiError as err:
            return await self._respond(request, err.code, err.body())
        return await self._respond(request, 200, self._model_info(model))

    async def _unknown(self, request: web.Request) -> web.StreamResponse:
        return await self._respond(request, _NOT_FOUND.code, _NOT_FOUND.body())

    # ------------------------------------------------------------------------------------------- helpers

    def _check_key(self, request: web.Request) -> None:
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            raise _MISSING_KEY
        if key != self.api_key:
            raise _BAD_KEY

    def _pick(self, call: GeminiCall) -> Outcome:
        for script in reversed(self._scripts):
            if script.match(call):
                return script.take()
        if self.responder is not None:
            return self.responder(call)
        return Reply(f"[{call.model}] reply to: {call.user_text[:60]}")

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
        await response.write_eof()
        call.t_responded = time.monotonic()
        return response
