"""Gemini behind the core's :class:`~bot.core.llm.LLM` protocol, through google-genai's async client.

The SDK's own retry looks at the status code alone (it would retry a per-day quota all day) and ignores
the server's ``retryDelay``, so it is switched off and this adapter retries from the error details:
408, per-minute 429 (after ``retryDelay``) and 5xx with jittered backoff, all inside the request's
timeout. Everything else becomes an :class:`~bot.core.llm.LLMFailure` with a reason users can read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import re
import urllib.request
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from google import genai
from google.genai import errors, types

from bot.core.llm import (
    Completion,
    FailureKind,
    FinishReason,
    Grounding,
    LLMFailure,
    LLMRequest,
    Source,
    Thinking,
    TokenUsage,
)
from bot.core.throttles import ConcurrencyCap, LocalCap
from bot.core.translation import N_
from bot.metrics import Metrics

log = logging.getLogger(__name__)
T = TypeVar("T")

API_VERSION = "v1beta"
"""The Gemini API surface Parley calls: the one with system instructions, thinking configuration and
structured output (google-genai 3 would otherwise call ``v1``, whose ``GenerateContentRequest`` has none
of them)."""
THINKING_BUDGETS = {
    Thinking.MINIMAL: 512,
    Thinking.LOW: 1024,
    Thinking.MEDIUM: 8192,
    Thinking.HIGH: 24576,
}
"""Each thinking level, sent as a ``thinkingBudget``. The v1beta ``ThinkingConfig`` Google publishes
(PyPI ``google-ai-generativelanguage``, ``generativelanguage_v1beta``) defines ``thinking_budget`` and no
``thinking_level``, and Gemini 3 models take budgets "for backwards compatibility"
(https://ai.google.dev/gemini-api/docs/thinking). Low, medium and high are the budgets Google maps
reasoning efforts to (1K, 8K, 24K: https://ai.google.dev/gemini-api/docs/openai); minimal is 512, the
smallest budget every model family takes (Flash-Lite 512–24,576, Flash 0–24,576, Pro 128–32,768)."""
JSON_MIME_TYPE = "application/json"
"""The ``responseMimeType`` a ``responseJsonSchema`` requires: the v1beta ``GenerationConfig`` Google
publishes (``google-ai-generativelanguage``) says that when it is set "``response_schema`` must be omitted,
but ``response_mime_type`` is required", and https://ai.google.dev/gemini-api/docs/structured-output sets
it to ``application/json``. v1's ``GenerationConfig`` has neither field."""
GOOGLE_SEARCH = types.Tool(google_search=types.GoogleSearch())
"""The tool a grounded request sends: Grounding with Google Search (``tools: [{"googleSearch": {}}]``,
https://ai.google.dev/gemini-api/docs/google-search; ``google_search`` in the v1beta ``Tool`` of
``google-ai-generativelanguage``). It may go with ``responseJsonSchema``: "Gemini 3 lets you combine
Structured Outputs with built-in tools, including Grounding with Google Search"
(https://ai.google.dev/gemini-api/docs/structured-output, "Structured outputs with tools"), so grounded
personas keep their structured answers. Earlier models refuse the pair ("controlled generation is not
supported with google_search tool": https://github.com/googleapis/python-genai/issues/665); Parley's
models are Gemini 3 ones."""
RETRYABLE_STATUS = frozenset({408, 500, 502, 503, 504})
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0
SSE_READ_BUFFER_BYTES = 2**22  # as the SDK's own session: room for long server-sent-event lines
MIN_ATTEMPT_S = 0.25  # no attempt starts with less time than this left
SDK_TIMEOUT_MARGIN_S = 5.0  # the SDK's timeout is a backstop: it must never fire before a budget does
BLOCK_REASONS = {
    "SAFETY",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "JAILBREAK",
    "MODEL_ARMOR",
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def _plain_json(value: object) -> object:
    """``value`` with every mapping made a dict and every tuple a list: what the SDK can serialise as is
    (it passes ``response_json_schema`` through untouched and JSON-encodes the request body)."""
    if isinstance(value, Mapping):
        return {str(key): _plain_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_json(item) for item in value]
    return value


class GeminiSetupError(Exception):
    """A configuration Gemini refuses (an unknown model, a rejected key), worded as one line."""


@dataclass(frozen=True, slots=True)
class _Verdict:
    """How to treat one failed attempt: give up with ``failure``, or wait ``delay_s`` and try again."""

    failure: LLMFailure
    delay_s: float | None = None


def _error_details(error: errors.APIError) -> list[dict[str, Any]]:
    body = error.details if isinstance(error.details, dict) else {}
    details = body.get("error", {}).get("details", [])
    return [detail for detail in details if isinstance(detail, dict)]


def _key_refused(error: errors.APIError, details: list[dict[str, Any]]) -> bool:
    """Whether Gemini refused the API key itself (401/403, or 400 with reason ``API_KEY_INVALID``)."""
    return error.code in (401, 403) or any(detail.get("reason") == "API_KEY_INVALID" for detail in details)


def _retry_delay(details: list[dict[str, Any]]) -> float | None:
    for detail in details:
        if detail.get("@type", "").endswith("google.rpc.RetryInfo"):
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _is_daily_quota(details: list[dict[str, Any]]) -> bool:
    for detail in details:
        if detail.get("@type", "").endswith("google.rpc.QuotaFailure"):
            for violation in detail.get("violations", []):
                quota = f"{violation.get('quotaId', '')} {violation.get('quotaMetric', '')}"
                if "PerDay" in quota or "per_day" in quota.lower():
                    return True
    return False


def _name(error: BaseException) -> str:
    if isinstance(error, errors.APIError):
        return f"{error.code} {error.status}"
    return type(error).__name__


def _backoff(attempt: int, rng: random.Random) -> float:
    """Full-jitter exponential backoff for the ``attempt``-th retry (1-based)."""
    return rng.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1)))


def classify_api_error(error: errors.APIError, model: str, attempt: int, rng: random.Random) -> _Verdict:
    """Map one failed attempt to a user-facing failure, and a delay when it is worth retrying."""
    code = error.code
    details = _error_details(error)
    if code == 429:
        if _is_daily_quota(details):
            return _Verdict(LLMFailure(N_("quota exhausted for today"), kind=FailureKind.QUOTA_EXHAUSTED))
        delay = _retry_delay(details)
        failure = LLMFailure(N_("rate limited by Gemini"), kind=FailureKind.RATE_LIMITED)
        return _Verdict(failure, delay if delay is not None else _backoff(attempt, rng))
    if code in RETRYABLE_STATUS:
        reason = N_("Gemini is overloaded") if code == 503 else f"Gemini error {code}"
        kind = FailureKind.TIMEOUT if code in (408, 504) else FailureKind.UNAVAILABLE
        return _Verdict(LLMFailure(reason, kind=kind), _backoff(attempt, rng))
    if code == 404:
        return _Verdict(LLMFailure(f"model {model} is not available", kind=FailureKind.REJECTED))
    if _key_refused(error, details):
        return _Verdict(LLMFailure(N_("Gemini refused the API key"), kind=FailureKind.REJECTED))
    return _Verdict(LLMFailure(f"Gemini rejected the request ({code})", kind=FailureKind.REJECTED))


def _usage(metadata: types.GenerateContentResponseUsageMetadata | None) -> TokenUsage:
    if metadata is None:
        return TokenUsage()
    return TokenUsage(
        metadata.prompt_token_count or 0,
        metadata.candidates_token_count or 0,
        metadata.thoughts_token_count or 0,
    )


def _text(response: types.GenerateContentResponse) -> str:
    candidate = response.candidates[0] if response.candidates else None
    if candidate is None or candidate.content is None or not candidate.content.parts:
        return ""
    return "".join(part.text for part in candidate.content.parts if part.text and not part.thought)


def _grounding(response: types.GenerateContentResponse) -> Grounding | None:
    """The first candidate's ``groundingMetadata`` (web sources, search queries and Google's rendering
    of the search suggestions), or None when the answer came without it."""
    candidate = response.candidates[0] if response.candidates else None
    metadata = candidate.grounding_metadata if candidate is not None else None
    if metadata is None:
        return None
    sources = tuple(
        Source(title=chunk.web.title or "", uri=chunk.web.uri)
        for chunk in metadata.grounding_chunks or []
        if chunk.web is not None and chunk.web.uri
    )
    entry = metadata.search_entry_point
    return Grounding(
        sources=sources,
        queries=tuple(query for query in metadata.web_search_queries or [] if query),
        suggestions_html=(entry.rendered_content or "") if entry is not None else "",
    )


def _finish_name(response: types.GenerateContentResponse) -> str | None:
    candidate = response.candidates[0] if response.candidates else None
    if candidate is None or candidate.finish_reason is None:
        return None
    return str(candidate.finish_reason.value)


def _block_failure(
    response: types.GenerateContentResponse, usage: TokenUsage, attempts: int
) -> LLMFailure | None:
    """The failure a refused or blocked response stands for, if it is one."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        reason = str(feedback.block_reason.value)
        text = (
            N_("blocked by safety filter") if reason == "SAFETY" else f"blocked by Gemini ({reason.lower()})"
        )
        return LLMFailure(text, kind=FailureKind.BLOCKED, attempts=attempts, usage=usage)
    finish = _finish_name(response)
    if finish in BLOCK_REASONS:
        text = (
            N_("blocked by safety filter") if finish == "SAFETY" else f"blocked by Gemini ({finish.lower()})"
        )
        return LLMFailure(text, kind=FailureKind.BLOCKED, attempts=attempts, usage=usage)
    if finish == "RECITATION":
        return LLMFailure(
            N_("blocked for reciting sources"), kind=FailureKind.BLOCKED, attempts=attempts, usage=usage
        )
    return None


def completion_from(
    response: types.GenerateContentResponse,
    text: str,
    model: str,
    attempts: int,
    grounding: Grounding | None = None,
) -> Completion:
    """A finished answer, or the :class:`LLMFailure` a blocked, empty or unusable response stands for.

    ``grounding``: what a stream's earlier chunks grounded it in; otherwise read from ``response``."""
    usage = _usage(response.usage_metadata)
    blocked = _block_failure(response, usage, attempts)
    if blocked is not None:
        raise blocked
    finish = _finish_name(response)
    if not text.strip():
        reason = N_("cut off before writing anything") if finish == "MAX_TOKENS" else N_("empty reply")
        raise LLMFailure(reason, kind=FailureKind.EMPTY, attempts=attempts, usage=usage)
    reason = FinishReason.MAX_TOKENS if finish == "MAX_TOKENS" else FinishReason.STOP
    return Completion(
        text=text,
        model=model,
        usage=usage,
        finish=reason,
        attempts=attempts,
        grounding=grounding if grounding is not None else _grounding(response),
    )


class GeminiLLM:
    """The :class:`~bot.core.llm.LLM` protocol on google-genai's ``client.aio``.

    Create it inside the running event loop and ``await aclose()`` it on shutdown. ``max_concurrency``
    caps calls in flight across the whole process, or ``cap`` across every process sharing it (a stream
    holds its slot until it ends); backoff sleeps do not hold a slot. ``longest_call_s``
    is the longest budget any request gets: the SDK's own timeout, which caps every request and stream,
    never cuts one shorter than its budget (each attempt is bounded by its own budget here).
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        max_concurrency: int = 32,
        longest_call_s: float = 90.0,
        rng: random.Random | None = None,
        cap: ConcurrencyCap | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """``metrics``: counts every failed attempt by code and kind."""
        self._metrics = metrics
        asyncio.get_running_loop()  # fail fast if built outside the loop that will use it
        # The SDK's own session trusts the environment, which makes aiohttp look for ~/.netrc in a worker
        # thread on every request: a fifth of the bot's CPU under load. This session trusts it only when
        # proxy variables are set, which is what trusting it is for here.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            trust_env=bool(urllib.request.getproxies()),
            read_bufsize=SSE_READ_BUFFER_BYTES,
        )
        self._client = genai.Client(
            api_key=api_key,
            vertexai=False,
            http_options=types.HttpOptions(
                base_url=base_url,
                api_version=API_VERSION,
                timeout=math.ceil(longest_call_s + SDK_TIMEOUT_MARGIN_S) * 1000,
                retry_options=types.HttpRetryOptions(attempts=1),
                aiohttp_client=self._session,
            ),
        )
        self._cap = cap or LocalCap(max_concurrency)
        self._rng = rng or random.Random()

    async def aclose(self) -> None:
        await self._client.aio.aclose()
        await self._session.close()

    async def check_models(self, models: Mapping[str, Sequence[str]], *, timeout_s: float = 15.0) -> None:
        """Look each configured model up once (``{variable: models}``).

        Raises :class:`GeminiSetupError` naming every unknown model with its variable, or the key when
        Gemini refuses it. A Gemini that cannot be reached now is only logged: it may be back by the
        first debate, and the bot has other work to do meanwhile.
        """
        wanted: dict[str, str] = {}
        for variable, names in models.items():
            for model in names:
                wanted.setdefault(model, variable)  # named under the first variable that lists it
        unknown: list[str] = []
        try:
            async with asyncio.timeout(timeout_s):
                for model, variable in wanted.items():
                    try:
                        await self._client.aio.models.get(model=model)
                    except errors.APIError as error:
                        if _key_refused(error, _error_details(error)):
                            raise GeminiSetupError(
                                f"Gemini refused GEMINI_API_KEY ({error.code} {error.status})"
                            ) from None
                        if error.code != 404:
                            raise
                        unknown.append(f"{variable}={model}")
        except (TimeoutError, errors.APIError, aiohttp.ClientError, OSError) as error:
            log.warning("could not look the Gemini models up at start-up (%s); going on", _name(error))
            return
        if unknown:
            raise GeminiSetupError(
                f"Gemini does not know the model{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                "(check the name; a list is at https://ai.google.dev/gemini-api/docs/models)"
            )

    @staticmethod
    def _config(request: LLMRequest) -> types.GenerateContentConfig:
        thinking = (
            None
            if request.thinking is None
            else types.ThinkingConfig(thinking_budget=THINKING_BUDGETS[request.thinking])
        )
        structured = request.response_schema is not None
        return types.GenerateContentConfig(
            system_instruction=request.system,
            max_output_tokens=request.max_output_tokens,
            temperature=request.temperature,
            thinking_config=thinking,
            response_mime_type=JSON_MIME_TYPE if structured else None,
            response_json_schema=_plain_json(request.response_schema) if structured else None,
            tools=[GOOGLE_SEARCH] if request.grounded else None,
        )

    async def _attempts(
        self,
        request: LLMRequest,
        attempt_once: Callable[[int], Awaitable[T]],
        keep_slot: contextlib.AsyncExitStack | None = None,
    ) -> T:
        """Run ``attempt_once(attempt)`` until it succeeds, fails for good or time runs out.

        Each attempt holds a slot of the cap; the successful one's slot is handed to ``keep_slot`` when
        given (a stream holds it until it ends), else given back.

        Each attempt is bounded by the time left (per-request ``HttpOptions`` would cost the SDK a deep
        copy of its options on every call; the client-wide timeout stays as a backstop).

        When time runs out after retryable faults, the last fault is the reason given: "Gemini is
        overloaded" tells the member more than the clock does.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + request.timeout_s
        last: LLMFailure | None = None
        attempt = 0
        while (remaining := deadline - loop.time()) >= MIN_ATTEMPT_S:
            attempt += 1
            try:
                async with contextlib.AsyncExitStack() as slot:
                    await slot.enter_async_context(self._cap.slot())
                    async with asyncio.timeout(remaining):
                        result = await attempt_once(attempt)
                    if keep_slot is not None:
                        await keep_slot.enter_async_context(slot.pop_all())
                    return result
            except LLMFailure:
                raise
            except errors.APIError as error:
                verdict = classify_api_error(error, request.model, attempt, self._rng)
                self._count_error(str(error.code), verdict.failure.kind.value)
                log.info("gemini %s attempt %d: %s %s", request.model, attempt, error.code, error.status)
            except TimeoutError:  # aiohttp timeouts are also ClientErrors: this must come first
                self._count_error("timeout", FailureKind.TIMEOUT.value)
                break
            except (aiohttp.ClientError, OSError) as error:
                verdict = _Verdict(
                    LLMFailure(N_("could not reach Gemini"), kind=FailureKind.NETWORK),
                    _backoff(attempt, self._rng),
                )
                self._count_error("network", FailureKind.NETWORK.value)
                log.info("gemini %s attempt %d: %s", request.model, attempt, type(error).__name__)
            last = verdict.failure
            last.attempts = attempt
            if verdict.delay_s is None or loop.time() + verdict.delay_s + MIN_ATTEMPT_S > deadline:
                raise last
            await asyncio.sleep(verdict.delay_s)
        if last is not None:
            last.attempts = attempt
            raise last
        raise LLMFailure(
            f"timed out after {request.timeout_s:g} s", kind=FailureKind.TIMEOUT, attempts=attempt
        )

    def _count_error(self, code: str, kind: str) -> None:
        if self._metrics is not None:
            self._metrics.gemini_error(code, kind)

    async def generate(self, request: LLMRequest) -> Completion:
        async def attempt_once(attempt: int) -> Completion:
            response = await self._client.aio.models.generate_content(
                model=request.model, contents=request.prompt, config=self._config(request)
            )
            return completion_from(response, _text(response), request.model, attempt)

        return await self._attempts(request, attempt_once)

    async def stream(self, request: LLMRequest) -> AsyncGenerator[Completion, None]:
        async def open_stream(
            attempt: int,
        ) -> tuple[int, AsyncIterator[types.GenerateContentResponse], types.GenerateContentResponse | None]:
            stream = await self._client.aio.models.generate_content_stream(
                model=request.model, contents=request.prompt, config=self._config(request)
            )
            # Faults surface with the first chunk: retry only until it has arrived.
            first = await anext(aiter(stream), None)
            return attempt, stream, first

        async with contextlib.AsyncExitStack() as slot:
            attempts, stream, chunk = await self._attempts(request, open_stream, keep_slot=slot)
            async with contextlib.aclosing(self._read_stream(request, attempts, stream, chunk)) as read:
                async for completion in read:
                    yield completion

    async def _read_stream(
        self,
        request: LLMRequest,
        attempts: int,
        stream: AsyncIterator[types.GenerateContentResponse],
        chunk: types.GenerateContentResponse | None,
    ) -> AsyncGenerator[Completion, None]:
        """Every cumulative text of an opened stream whose first chunk is ``chunk``, then its completion."""
        text = ""
        last: types.GenerateContentResponse | None = None
        grounding: Grounding | None = None
        try:
            while chunk is not None:
                last = chunk
                grounding = _grounding(chunk) or grounding
                blocked = _block_failure(chunk, _usage(chunk.usage_metadata), attempts)
                if blocked is not None:
                    raise blocked
                piece = _text(chunk)
                if piece:
                    text += piece
                    yield Completion(text=text, model=request.model, finish=None, attempts=attempts)
                chunk = await anext(aiter(stream), None)
        except (errors.APIError, aiohttp.ClientError, OSError) as error:
            raise LLMFailure(
                "the reply stream broke off", kind=FailureKind.NETWORK, attempts=attempts
            ) from error
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()
        if last is None:
            raise LLMFailure(N_("empty reply"), kind=FailureKind.EMPTY, attempts=attempts)
        yield completion_from(last, text, request.model, attempts, grounding)
