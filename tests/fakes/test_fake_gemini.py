"""Fidelity tests: the fake Gemini, driven by the real google-genai async client and by raw HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from google import genai
from google.genai import errors, types

from tests.fakes.fake_gemini import FakeGemini, Fault, GeminiCall, Reply, Usage, count_tokens

KEY = "test-gemini-key"
LITE, FLASH = "gemini-3.1-flash-lite", "gemini-3.5-flash"


def make_client(
    gem: FakeGemini, *, api_key: str = KEY, api_version: str | None = None, timeout_ms: int | None = None
) -> genai.Client:
    """The real client, pointed at the fake, without retries."""
    options = types.HttpOptions(
        base_url=gem.base_url,
        api_version=api_version,
        timeout=timeout_ms,
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    return genai.Client(api_key=api_key, vertexai=False, http_options=options)


@pytest.fixture
async def gem() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=KEY, models=(LITE, FLASH)) as fake:
        yield fake


@pytest.fixture
async def client(gem: FakeGemini) -> AsyncIterator[genai.Client]:
    real = make_client(gem)
    yield real
    await real.aio.aclose()


async def ask(
    client: genai.Client, text: str = "hello", *, system: str | None = None, model: str = FLASH
) -> types.GenerateContentResponse:
    config = types.GenerateContentConfig(system_instruction=system) if system else None
    return await client.aio.models.generate_content(model=model, contents=text, config=config)


async def generate(client: genai.Client, system: str, *, stream: bool) -> list[types.GenerateContentResponse]:
    """One call, streamed or not, with ``system`` as the system instruction; returns the response(s)."""
    config = types.GenerateContentConfig(system_instruction=system)
    if not stream:
        return [await client.aio.models.generate_content(model=FLASH, contents="q", config=config)]
    chunks = await client.aio.models.generate_content_stream(model=FLASH, contents="q", config=config)
    return [chunk async for chunk in chunks]


async def post_raw(
    gem: FakeGemini, body: bytes | dict[str, Any], *, path: str = f"/v1beta/models/{FLASH}:generateContent"
) -> tuple[int, str, Any]:
    """POST without the library (which never sends malformed bodies); returns status, content type, JSON."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(gem.base_url + path, data=data, headers={"x-goog-api-key": KEY}) as resp,
    ):
        return resp.status, resp.headers["Content-Type"], await resp.json()


def error_detail(err: errors.APIError, type_suffix: str) -> dict[str, Any]:
    """The ``details`` entry of a Google error body whose ``@type`` ends with ``type_suffix``."""
    details: list[dict[str, Any]] = err.details["error"]["details"]
    return next(d for d in details if d["@type"].endswith(type_suffix))


USER = {"role": "user", "parts": [{"text": "hi"}]}


# ------------------------------------------------------------------------------------------ generateContent


@pytest.mark.parametrize(("api_version", "expected"), [(None, "v1"), ("v1beta", "v1beta")])
async def test_generate_content_returns_scripted_text_and_records_request(
    gem: FakeGemini, api_version: str | None, expected: str
) -> None:
    system, user = "You are Ada, a careful logician.", "Is every even number a sum of two primes?"
    scripted = Reply("Nobody knows yet.")
    gem.script("You are Ada", scripted)
    real = make_client(gem, api_version=api_version)
    try:
        config = types.GenerateContentConfig(
            system_instruction=system, temperature=0.3, max_output_tokens=200
        )
        response = await real.aio.models.generate_content(model=LITE, contents=user, config=config)
    finally:
        await real.aio.aclose()

    assert response.text == "Nobody knows yet."
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.model_version == LITE
    assert response.response_id
    usage = response.usage_metadata
    assert usage is not None
    prompt_tokens = count_tokens(system + user)
    assert usage.prompt_token_count == prompt_tokens
    assert usage.candidates_token_count == count_tokens("Nobody knows yet.") == 5
    assert usage.total_token_count == prompt_tokens + 5
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details[0].modality == types.MediaModality.TEXT

    [call] = gem.calls
    assert (call.index, call.api_version, call.model, call.method) == (0, expected, LITE, "generateContent")
    assert (call.system_text, call.user_text) == (system, user)
    assert call.generation_config == {"temperature": 0.3, "maxOutputTokens": 200}
    assert (call.status, call.outcome, call.api_key_ok) == (200, scripted, True)
    assert call.t_responded is not None
    assert call.t_responded >= call.t_received


async def test_unmatched_calls_get_a_deterministic_reply_derived_from_the_request(
    gem: FakeGemini, client: genai.Client
) -> None:
    gem.script("never present", Reply("scripted"))
    question = "Explain, in no more than three sentences, why the sky appears blue at noon."
    first, second = await ask(client, question), await ask(client, question, model=LITE)

    assert first.text == f"[{FLASH}] reply to: {question[:60]}"
    assert second.text == f"[{LITE}] reply to: {question[:60]}"
    assert gem.calls[0].outcome == Reply(first.text)


async def test_usage_override_and_candidate_count(gem: FakeGemini, client: genai.Client) -> None:
    gem.script("counted", Reply("two of us", usage=Usage(prompt=100, candidates=7, thoughts=20)))
    config = types.GenerateContentConfig(system_instruction="counted", candidate_count=2)
    response = await client.aio.models.generate_content(model=FLASH, contents="x", config=config)

    assert response.candidates is not None
    assert [c.index for c in response.candidates] == [0, 1]
    assert response.candidates[1].content is not None
    assert response.candidates[1].content.parts is not None
    assert response.candidates[1].content.parts[0].text == "two of us"
    usage = response.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count) == (100, 7)
    assert (usage.thoughts_token_count, usage.total_token_count) == (20, 127)


# ---------------------------------------------------------------------------------------------- streaming


async def test_stream_yields_scripted_chunks_in_order(gem: FakeGemini, client: genai.Client) -> None:
    gem.script("streamer", Reply("Hello, world", chunks=["Hel", "lo, ", "world"], chunk_delay=0.05))
    config = types.GenerateContentConfig(system_instruction="streamer")
    stream = await client.aio.models.generate_content_stream(model=FLASH, contents="hi", config=config)
    chunks = [chunk async for chunk in stream]

    assert [c.text for c in chunks] == ["Hel", "lo, ", "world"]
    finish = [c.candidates[0].finish_reason if c.candidates else None for c in chunks]
    assert finish == [None, None, types.FinishReason.STOP]
    assert [c.usage_metadata is not None for c in chunks] == [False, False, True]
    assert chunks[-1].usage_metadata is not None
    assert chunks[-1].usage_metadata.candidates_token_count == count_tokens("Hello, world")
    assert len({c.response_id for c in chunks}) == 1
    [call] = gem.calls
    assert (call.method, call.status) == ("streamGenerateContent", 200)
    assert call.t_responded is not None
    assert call.t_responded - call.t_received >= 2 * 0.05


async def test_stream_wire_framing_is_sse_data_lines_with_crlf(gem: FakeGemini) -> None:
    gem.script(lambda call: True, Reply("ab", chunks=["a", "b"]))
    url = f"{gem.base_url}/v1/models/{FLASH}:streamGenerateContent?alt=sse"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json={"contents": [USER]}, headers={"x-goog-api-key": KEY}) as resp,
    ):
        content_type, raw = resp.headers["Content-Type"], await resp.read()

    assert content_type == "text/event-stream"
    events = raw.split(b"\r\n\r\n")
    assert events[-1] == b""
    assert all(event.startswith(b"data: {") for event in events[:-1])
    payloads = [json.loads(event[len(b"data: ") :]) for event in events[:-1]]
    assert [p["candidates"][0]["content"]["parts"][0]["text"] for p in payloads] == ["a", "b"]
    assert "finishReason" not in payloads[0]["candidates"][0]
    assert payloads[1]["candidates"][0]["finishReason"] == "STOP"


# ---------------------------------------------------------------------------------------------- scripting


async def test_script_matches_by_system_substring_and_by_callable_latest_first(
    gem: FakeGemini, client: genai.Client
) -> None:
    gem.script("persona:Ada", Reply("from Ada"))
    gem.script(lambda call: call.model == LITE, Reply("from the lite model"))

    assert (await ask(client, system="persona:Ada")).text == "from Ada"
    assert (await ask(client, system="persona:Bob", model=LITE)).text == "from the lite model"
    # Both scripts match; the later one wins.
    assert (await ask(client, system="persona:Ada", model=LITE)).text == "from the lite model"
    assert (await ask(client, system="persona:Bob")).text == f"[{FLASH}] reply to: hello"


async def test_outcomes_are_consumed_in_order_and_the_last_repeats(
    gem: FakeGemini, client: genai.Client
) -> None:
    script = gem.script("flaky", Fault.unavailable(), Fault.unavailable(), Reply("finally"))
    results: list[int | str | None] = []
    for _ in range(4):
        try:
            results.append((await ask(client, system="flaky")).text)
        except errors.ServerError as err:
            results.append(err.code)

    assert results == [503, 503, "finally", "finally"]
    assert script.consumed == 4
    assert [call.status for call in gem.calls] == [503, 503, 200, 200]


# ----------------------------------------------------------------------------------------------- faults


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("fault", "code", "status", "message"),
    [
        (Fault.unavailable(), 503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        (Fault.internal(), 500, "INTERNAL", "An internal error has occurred."),
        (Fault.deadline(), 504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
    ],
)
async def test_server_faults_raise_server_error(
    gem: FakeGemini, client: genai.Client, fault: Fault, code: int, status: str, message: str, stream: bool
) -> None:
    gem.script("x", fault)
    with pytest.raises(errors.ServerError) as caught:
        await generate(client, "x", stream=stream)

    assert (caught.value.code, caught.value.status) == (code, status)
    assert caught.value.message is not None
    assert caught.value.message.startswith(message)
    assert gem.calls[0].status == code


async def test_rate_limited_carries_quota_failure_help_and_retry_info(
    gem: FakeGemini, client: genai.Client
) -> None:
    gem.script("x", Fault.rate_limited(retry_delay_s=7.0))
    with pytest.raises(errors.ClientError) as caught:
        await ask(client, system="x")

    err = caught.value
    assert (err.code, err.status) == (429, "RESOURCE_EXHAUSTED")
    assert err.message is not None
    assert "You exceeded your current quota" in err.message
    [violation] = error_detail(err, "google.rpc.QuotaFailure")["violations"]
    assert violation["quotaId"] == "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    assert violation["quotaMetric"] == "generativelanguage.googleapis.com/generate_content_free_tier_requests"
    assert violation["quotaDimensions"]["model"] == FLASH
    assert error_detail(err, "google.rpc.Help")["links"][0]["url"].startswith("https://ai.google.dev/")
    assert error_detail(err, "google.rpc.RetryInfo")["retryDelay"] == "7s"


async def test_daily_quota_exhaustion_asks_to_retry_in_hours(gem: FakeGemini, client: genai.Client) -> None:
    gem.script("x", Fault.quota_exhausted_today())
    with pytest.raises(errors.ClientError) as caught:
        await ask(client, system="x")

    assert caught.value.code == 429
    [violation] = error_detail(caught.value, "google.rpc.QuotaFailure")["violations"]
    assert violation["quotaId"] == "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
    delay = error_detail(caught.value, "google.rpc.RetryInfo")["retryDelay"]
    assert delay.endswith("s")
    assert float(delay[:-1]) >= 3600


@pytest.mark.parametrize("stream", [False, True])
async def test_blocked_prompt_has_prompt_feedback_and_no_candidates(
    gem: FakeGemini, client: genai.Client, stream: bool
) -> None:
    gem.script("x", Fault.blocked_prompt())
    [response] = await generate(client, "x", stream=stream)

    assert response.candidates is None
    assert response.text is None
    assert response.prompt_feedback is not None
    assert response.prompt_feedback.block_reason == types.BlockedReason.SAFETY
    assert response.prompt_feedback.safety_ratings is not None
    assert types.HarmProbability.HIGH in {r.probability for r in response.prompt_feedback.safety_ratings}
    assert gem.calls[0].status == 200


async def test_blocked_reply_is_a_safety_candidate_without_content(
    gem: FakeGemini, client: genai.Client
) -> None:
    gem.script("x", Fault.blocked_reply())
    response = await ask(client, system="x")

    assert response.text is None
    assert response.candidates is not None
    [candidate] = response.candidates
    assert candidate.finish_reason == types.FinishReason.SAFETY
    assert candidate.content is None
    assert candidate.safety_ratings is not None
    high = [r for r in candidate.safety_ratings if r.probability == types.HarmProbability.HIGH]
    assert len(high) == 1
    assert high[0].blocked is True


@pytest.mark.parametrize(("text", "expected"), [("", None), ("The answer is", "The answer is")])
async def test_max_tokens_keeps_whatever_text_was_written(
    gem: FakeGemini, client: genai.Client, text: str, expected: str | None
) -> None:
    gem.script("x", Fault.max_tokens(text))
    config = types.GenerateContentConfig(system_instruction="x", max_output_tokens=64)
    response = await client.aio.models.generate_content(model=FLASH, contents="q", config=config)

    assert response.text == expected
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert response.candidates[0].content is not None
    assert bool(response.candidates[0].content.parts) == bool(text)
    assert response.usage_metadata is not None
    assert response.usage_metadata.thoughts_token_count == 64 - count_tokens(text)


async def test_recitation_is_a_candidate_without_text(gem: FakeGemini, client: genai.Client) -> None:
    gem.script("x", Fault.recitation())
    response = await ask(client, system="x")

    assert response.text is None
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.RECITATION


# ------------------------------------------------------------------------------------- keys, models, routes


async def test_wrong_key_is_rejected_recorded_and_consumes_no_outcome(gem: FakeGemini) -> None:
    gem.script("x", Reply("first"), Reply("second"))
    wrong, right = make_client(gem, api_key="not-the-key"), make_client(gem)
    try:
        with pytest.raises(errors.ClientError) as caught:
            await ask(wrong, system="x")
        reply = await ask(right, system="x")
    finally:
        await wrong.aio.aclose()
        await right.aio.aclose()

    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert caught.value.message == "API key not valid. Please pass a valid API key."
    assert error_detail(caught.value, "google.rpc.ErrorInfo")["reason"] == "API_KEY_INVALID"
    assert reply.text == "first"
    rejected = gem.calls[0]
    assert (rejected.api_key_ok, rejected.status, rejected.outcome) == (False, 400, None)


async def test_missing_key_is_permission_denied_and_query_key_is_accepted(gem: FakeGemini) -> None:
    url = f"{gem.base_url}/v1/models/{FLASH}:generateContent"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"contents": [USER]}) as resp:
            missing = resp.status, await resp.json()
        async with session.post(url, params={"key": KEY}, json={"contents": [USER]}) as resp:
            by_query = resp.status, await resp.json()

    assert missing[0] == 403
    assert missing[1]["error"]["status"] == "PERMISSION_DENIED"
    assert missing[1]["error"]["message"].startswith("Method doesn't allow unregistered callers")
    assert by_query[0] == 200
    assert by_query[1]["candidates"][0]["content"]["parts"][0]["text"] == f"[{FLASH}] reply to: hi"


async def test_unknown_model_is_not_found(gem: FakeGemini, client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        await ask(client, model="gemini-0.9-imaginary")

    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")
    assert caught.value.message is not None
    assert caught.value.message.startswith(
        "models/gemini-0.9-imaginary is not found for API version v1, "
        "or is not supported for generateContent."
    )
    assert (gem.calls[0].model, gem.calls[0].status, gem.calls[0].outcome) == (
        "gemini-0.9-imaginary",
        404,
        None,
    )


async def test_models_can_be_listed_and_fetched(gem: FakeGemini, client: genai.Client) -> None:
    listed = [model async for model in await client.aio.models.list()]
    fetched = await client.aio.models.get(model=FLASH)

    assert [m.name for m in listed] == [f"models/{LITE}", f"models/{FLASH}"]
    assert fetched.name == f"models/{FLASH}"
    assert fetched.display_name == "Gemini 3.5 Flash"
    assert (fetched.input_token_limit, fetched.output_token_limit) == (1_048_576, 65_536)
    assert fetched.supported_actions is not None
    assert "generateContent" in fetched.supported_actions
    with pytest.raises(errors.ClientError) as caught:
        await client.aio.models.get(model="gemini-0.9-imaginary")
    assert caught.value.code == 404
    assert gem.calls == []


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/files"), ("POST", f"/v1/models/{FLASH}:countTokens"), ("GET", "/v2/models")],
)
async def test_unknown_routes_are_404_in_google_shape(gem: FakeGemini, method: str, path: str) -> None:
    async with aiohttp.ClientSession() as session, session.request(method, gem.base_url + path) as resp:
        status, content_type, body = resp.status, resp.headers["Content-Type"], await resp.json()

    assert (status, content_type) == (404, "application/json; charset=UTF-8")
    assert body == {
        "error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}
    }


# ------------------------------------------------------------------------------------------ strictness


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"contents": [USER], "foo": 1},
            'Invalid JSON payload received. Unknown name "foo": Cannot find field.',
        ),
        (
            {"contents": [USER], "generationConfig": {"temprature": 1}},
            "Invalid JSON payload received. Unknown name \"temprature\" at 'generation_config': "
            "Cannot find field.",
        ),
        (
            {"contents": [{"role": "user", "parts": [{"txt": "x"}]}]},
            "Unknown name \"txt\" at 'contents[0].parts[0]'",
        ),
        ({"contents": []}, "* GenerateContentRequest.contents: contents is not specified\n"),
        ({}, "* GenerateContentRequest.contents: contents is not specified\n"),
        (
            {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
            "Please use a valid role: user, model.",
        ),
        (
            {"contents": [USER, {"role": "model", "parts": [{"text": ""}]}]},
            "* GenerateContentRequest.contents[1].parts[0].data: required oneof field 'data' must have one "
            "initialized field\n",
        ),
        (
            {"contents": [{"role": "user", "parts": []}]},
            "contents[0].parts: contents.parts must not be empty.",
        ),
        ({"contents": [USER], "generationConfig": {"temperature": 2.5}}, "generation_config.temperature"),
        (
            {"contents": [USER], "generationConfig": {"maxOutputTokens": 0}},
            "generation_config.max_output_tokens",
        ),
        (
            {"contents": [USER], "generationConfig": {"candidateCount": 9}},
            "generation_config.candidate_count",
        ),
        (
            {"contents": [USER], "generationConfig": {"temperature": "hot"}},
            "Invalid value at 'generation_config.temperature' (TYPE_FLOAT), \"hot\"",
        ),
        ({"contents": USER}, "Invalid value at 'contents'"),
        ({"contents": [{"role": "user", "parts": [None]}]}, "Invalid value at 'contents[0].parts[0]'"),
        (b"{not json", "Invalid JSON payload received. Unexpected token."),
        (b"[1, 2]", "Root element must be a message."),
    ],
)
async def test_malformed_requests_are_rejected_like_gemini(
    gem: FakeGemini, body: bytes | dict[str, Any], message: str
) -> None:
    gem.script(lambda call: True, Reply("must not be used"))
    status, content_type, payload = await post_raw(gem, body)

    assert (status, content_type) == (400, "application/json; charset=UTF-8")
    assert payload["error"]["code"] == 400
    assert payload["error"]["status"] == "INVALID_ARGUMENT"
    assert message in payload["error"]["message"]
    [call] = gem.calls
    assert (call.status, call.outcome, call.api_key_ok) == (400, None, True)


async def test_snake_case_field_names_are_accepted(gem: FakeGemini) -> None:
    body = {
        "contents": [USER],
        "system_instruction": {"parts": [{"text": "snake persona"}]},
        "generation_config": {"max_output_tokens": 50, "thinking_config": {"thinking_budget": 0}},
    }
    status, _, payload = await post_raw(gem, body)

    assert status == 200
    assert payload["candidates"][0]["content"]["parts"][0]["text"] == f"[{FLASH}] reply to: hi"
    assert gem.calls[0].system_text == "snake persona"
    assert gem.calls[0].generation_config == body["generation_config"]


# ------------------------------------------------------------------------------------- timing and lifecycle


async def test_latency_delays_the_answer(gem: FakeGemini, client: genai.Client) -> None:
    gem.script("slow", Reply("eventually", latency=0.3))
    assert (await ask(client, system="slow")).text == "eventually"

    [call] = gem.calls
    assert call.t_responded is not None
    assert call.t_responded - call.t_received >= 0.3


async def test_concurrent_calls_all_arrive_before_the_first_answer(
    gem: FakeGemini, client: genai.Client
) -> None:
    latencies = (0.2, 0.4, 0.6, 0.8)
    for i, latency in enumerate(latencies):
        gem.script(f"persona-{i}", Reply(f"answer {i}", latency=latency))
    responses = await asyncio.gather(*(ask(client, system=f"persona-{i}") for i in range(len(latencies))))

    assert [r.text for r in responses] == [f"answer {i}" for i in range(len(latencies))]
    by_persona: dict[str, GeminiCall] = {call.system_text: call for call in gem.calls}
    responded = [by_persona[f"persona-{i}"].t_responded for i in range(len(latencies))]
    assert all(t is not None for t in responded)
    assert max(call.t_received for call in gem.calls) < min(t for t in responded if t is not None)
    for i, latency in enumerate(latencies):
        call = by_persona[f"persona-{i}"]
        assert call.t_responded is not None
        assert call.t_responded - call.t_received >= latency


async def test_hang_times_out_the_client_and_the_fake_still_closes_promptly() -> None:
    fake = FakeGemini(api_key=KEY, models=(FLASH,))
    await fake.start()
    fake.script("stuck", Fault.hang())
    impatient, patient = make_client(fake, timeout_ms=300), make_client(fake, timeout_ms=10_000)
    try:
        with pytest.raises(TimeoutError):
            await ask(impatient, system="stuck")
        waiting = asyncio.create_task(ask(patient, system="stuck"))
        await fake.wait_for_calls(2)
        started = time.monotonic()
        await fake.close()
        closed_in = time.monotonic() - started
        with pytest.raises(errors.ServerError) as caught:
            await waiting
    finally:
        await fake.close()
        await impatient.aio.aclose()
        await patient.aio.aclose()

    assert closed_in < 1.0
    assert caught.value.code == 503
    timed_out = fake.calls[0]
    assert (timed_out.status, timed_out.t_responded) == (None, None)
    assert timed_out.outcome == Fault.hang()


async def test_wait_for_calls_times_out_with_a_clear_message(gem: FakeGemini) -> None:
    with pytest.raises(TimeoutError, match=r"expected 1 Gemini calls within 0\.05s, got 0"):
        await gem.wait_for_calls(1, timeout=0.05)


def test_reply_chunks_must_join_to_text() -> None:
    assert Reply("ab", chunks=["a", "b"]).chunks == ("a", "b")
    with pytest.raises(ValueError, match="do not join"):
        Reply("abc", chunks=["a", "b"])


async def test_a_responder_answers_calls_no_script_matches() -> None:
    seen: list[str] = []

    def respond(call: GeminiCall) -> Reply:
        seen.append(call.user_text)
        return Reply(f"echo {call.user_text}", latency=0.05)

    async with FakeGemini(api_key=KEY, responder=respond) as gem:
        gem.script("scripted", Reply("from the script"))
        client = make_client(gem)
        try:
            plain = await client.aio.models.generate_content(model=LITE, contents="ping")
            scripted = await client.aio.models.generate_content(
                model=LITE, contents="pong", config=types.GenerateContentConfig(system_instruction="scripted")
            )
        finally:
            await client.aio.aclose()
    assert plain.text == "echo ping"
    assert scripted.text == "from the script"
    assert seen == ["ping"]
    assert gem.calls[0].t_responded is not None
    assert gem.calls[0].t_responded - gem.calls[0].t_received >= 0.05
