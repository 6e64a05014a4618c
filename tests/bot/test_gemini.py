"""The Gemini adapter through the real google-genai client against the loopback fake Gemini."""

from __future__ import annotations

import asyncio
import json
import random
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from types import MappingProxyType

import pytest

from bot.core.llm import (
    THINKING_ALLOWANCE,
    Completion,
    FailureKind,
    FinishReason,
    LLMFailure,
    LLMRequest,
    Source,
    Thinking,
    TokenUsage,
    output_budget,
)
from bot.gemini import JSON_MIME_TYPE, THINKING_BUDGETS, GeminiLLM, GeminiSetupError
from bot.shared_limits import SharedLimits
from tests.fakes.fake_gemini import FakeGemini, Fault, Reply, Usage, WebSource, even_chunks
from tests.redis_server import shared_redis_url, unique_prefix

KEY = "test-gemini-key"
MODEL = "gemini-3.1-flash-lite"


def request(
    system: str = "You are the Rebel Pilot.", *, timeout_s: float = 5.0, model: str = MODEL
) -> LLMRequest:
    # The model thinks at its default level: the answer's 256 tokens come on top of that allowance.
    return LLMRequest(
        model=model,
        system=system,
        prompt="Was it justified?",
        timeout_s=timeout_s,
        max_output_tokens=output_budget(256, Thinking.MINIMAL),
    )


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=KEY) as fake:
        yield fake


@pytest.fixture
async def llm(gemini: FakeGemini) -> AsyncIterator[GeminiLLM]:
    adapter = GeminiLLM(KEY, base_url=gemini.base_url, max_concurrency=8, rng=random.Random(7))
    yield adapter
    await adapter.aclose()


async def failure_of(llm: GeminiLLM, call: LLMRequest) -> LLMFailure:
    with pytest.raises(LLMFailure) as caught:
        await llm.generate(call)
    return caught.value


async def test_a_reply_carries_text_usage_and_the_request_as_sent(gemini: FakeGemini, llm: GeminiLLM) -> None:
    gemini.script("Rebel Pilot", Reply("For the Alliance!", usage=Usage(prompt=40, candidates=5, thoughts=3)))
    completion = await llm.generate(request())
    assert completion == Completion("For the Alliance!", MODEL, TokenUsage(40, 5, 3), FinishReason.STOP, 1)
    assert completion.usage.total == 48  # thought tokens are billed like the answer's
    (call,) = gemini.calls
    assert call.api_version == "v1beta"
    assert call.model == MODEL
    assert call.method == "generateContent"
    assert call.system_text == "You are the Rebel Pilot."
    assert call.user_text == "Was it justified?"
    assert call.generation_config["maxOutputTokens"] == 256 + THINKING_ALLOWANCE[Thinking.MINIMAL]


async def test_503s_are_retried_until_success(gemini: FakeGemini, llm: GeminiLLM) -> None:
    gemini.script("Rebel", Fault.unavailable(), Fault.unavailable(), Reply("third time lucky"))
    completion = await llm.generate(request())
    assert completion.text == "third time lucky"
    assert completion.attempts == 3
    assert [call.status for call in gemini.calls] == [503, 503, 200]


async def test_503_every_time_gives_up_inside_the_timeout(gemini: FakeGemini, llm: GeminiLLM) -> None:
    gemini.script("Rebel", Fault.unavailable())
    loop = asyncio.get_running_loop()
    started = loop.time()
    failure = await failure_of(llm, request(timeout_s=2.0))
    assert failure.reason == "Gemini is overloaded"
    assert failure.kind is FailureKind.UNAVAILABLE
    assert failure.attempts == len(gemini.calls) >= 3
    assert loop.time() - started < 2.0


async def test_a_per_minute_429_waits_for_its_retry_delay(gemini: FakeGemini, llm: GeminiLLM) -> None:
    gemini.script("Rebel", Fault.rate_limited(retry_delay_s=0.3), Reply("after the wait"))
    completion = await llm.generate(request())
    assert completion.text == "after the wait"
    first, second = gemini.calls
    assert first.status == 429
    assert first.t_responded is not None
    assert second.t_received - first.t_responded >= 0.3


async def test_a_429_whose_delay_outlasts_the_budget_fails_at_once(
    gemini: FakeGemini, llm: GeminiLLM
) -> None:
    gemini.script("Rebel", Fault.rate_limited(retry_delay_s=30))
    failure = await failure_of(llm, request(timeout_s=2.0))
    assert failure.reason == "rate limited by Gemini"
    assert failure.kind is FailureKind.RATE_LIMITED
    assert len(gemini.calls) == 1


async def test_a_per_day_quota_is_not_retried(gemini: FakeGemini, llm: GeminiLLM) -> None:
    gemini.script("Rebel", Fault.quota_exhausted_today())
    failure = await failure_of(llm, request())
    assert failure.reason == "quota exhausted for today"
    assert failure.kind is FailureKind.QUOTA_EXHAUSTED
    assert len(gemini.calls) == 1


async def test_a_bad_key_or_unknown_model_is_not_retried(gemini: FakeGemini) -> None:
    wrong = GeminiLLM("not-the-key", base_url=gemini.base_url)
    try:
        failure = await failure_of(wrong, request())
    finally:
        await wrong.aclose()
    assert failure.reason == "Gemini refused the API key"
    assert failure.kind is FailureKind.REJECTED
    right = GeminiLLM(KEY, base_url=gemini.base_url)
    try:
        failure = await failure_of(right, request(model="gemini-0-imaginary"))
    finally:
        await right.aclose()
    assert failure.reason == "model gemini-0-imaginary is not available"
    assert [call.status for call in gemini.calls] == [400, 404]


async def test_a_hanging_call_times_out_at_the_budget(gemini: FakeGemini, llm: GeminiLLM) -> None:
    gemini.script("Rebel", Fault.hang())
    loop = asyncio.get_running_loop()
    started = loop.time()
    failure = await failure_of(llm, request(timeout_s=1.0))
    elapsed = loop.time() - started
    assert failure.reason == "timed out after 1 s"
    assert failure.kind is FailureKind.TIMEOUT
    assert 0.9 <= elapsed < 3.0


async def test_when_time_runs_out_after_a_fault_the_fault_is_the_reason(
    gemini: FakeGemini, llm: GeminiLLM
) -> None:
    gemini.script("Rebel", Fault.unavailable(), Fault.hang())
    failure = await failure_of(llm, request(timeout_s=1.5))
    assert failure.reason == "Gemini is overloaded"
    assert failure.attempts == 2
    assert [call.status for call in gemini.calls] == [503, None]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault.blocked_prompt(), "blocked by safety filter"),
        (Fault.blocked_reply(), "blocked by safety filter"),
        (Fault.recitation(), "blocked for reciting sources"),
        (Fault.max_tokens(""), "cut off before writing anything"),
        (Reply(""), "empty reply"),
    ],
)
async def test_unusable_replies_are_named_failures(
    gemini: FakeGemini, llm: GeminiLLM, fault: Fault | Reply, reason: str
) -> None:
    gemini.script("Rebel", fault)
    failure = await failure_of(llm, request())
    assert failure.reason == reason
    assert len(gemini.calls) == 1


async def test_a_reply_cut_off_at_max_tokens_is_kept(gemini: FakeGemini, llm: GeminiLLM) -> None:
    gemini.script("Rebel", Fault.max_tokens("We flew in, we"))
    completion = await llm.generate(request())
    assert completion.text == "We flew in, we"
    assert completion.cut_off


async def test_the_stream_yields_cumulative_text_then_the_finished_reply(
    gemini: FakeGemini, llm: GeminiLLM
) -> None:
    gemini.script(
        "Chair", Fault.unavailable(), Reply("Justified, narrowly.", chunks=("Justified", ", narrowly."))
    )
    snapshots = [snapshot async for snapshot in llm.stream(request("Chair"))]
    assert [(s.text, s.finish) for s in snapshots] == [
        ("Justified", None),
        ("Justified, narrowly.", None),
        ("Justified, narrowly.", FinishReason.STOP),
    ]
    assert snapshots[-1].usage.total > 0
    assert snapshots[-1].attempts == 2
    assert [call.method for call in gemini.calls] == ["streamGenerateContent"] * 2


async def test_a_blocked_stream_is_a_named_failure(gemini: FakeGemini, llm: GeminiLLM) -> None:
    gemini.script("Chair", Fault.blocked_prompt())
    with pytest.raises(LLMFailure, match="blocked by safety filter"):
        [snapshot async for snapshot in llm.stream(request("Chair"))]


async def test_the_process_wide_cap_bounds_calls_in_flight(gemini: FakeGemini) -> None:
    gemini.script("Rebel", Reply("slow", latency=0.3))
    capped = GeminiLLM(KEY, base_url=gemini.base_url, max_concurrency=2)
    try:
        await asyncio.gather(*(capped.generate(request()) for _ in range(4)))
    finally:
        await capped.aclose()
    first, second, third, fourth = sorted(gemini.calls, key=lambda call: call.t_received)
    earliest_end = min(end for end in (first.t_responded, second.t_responded) if end is not None)
    assert second.t_received < earliest_end
    assert third.t_received >= earliest_end
    assert fourth.t_received >= earliest_end


async def test_a_stream_holds_its_slot_until_its_last_event(gemini: FakeGemini) -> None:
    gemini.script("Chair", Reply("one two three", chunks=["one ", "two ", "three"], chunk_delay=0.15))
    gemini.script("Rebel", Reply("quick"))
    capped = GeminiLLM(KEY, base_url=gemini.base_url, max_concurrency=1)

    async def verdict() -> str:
        return [snapshot async for snapshot in capped.stream(request("Chair"))][-1].text

    try:
        streamed = asyncio.create_task(verdict())
        await gemini.wait_for_calls(1)
        await asyncio.sleep(0.05)  # the first chunk has arrived
        answer = await capped.generate(request())
        assert streamed.done()  # the generation waited for the whole stream
        assert (await streamed, answer.text) == ("one two three", "quick")
    finally:
        await capped.aclose()
    assert gemini.most_in_flight == 1


async def test_processes_sharing_a_cap_through_redis_hold_at_most_its_size_together(
    gemini: FakeGemini,
) -> None:
    gemini.script("Rebel", Reply("slow", latency=0.1))
    gemini.script("Chair", Reply("one two", chunks=["one ", "two"], chunk_delay=0.1))
    url = await shared_redis_url()
    prefix = unique_prefix()
    processes = [SharedLimits(url, prefix=prefix) for _ in range(2)]
    llms = [
        GeminiLLM(
            KEY,
            base_url=gemini.base_url,
            max_concurrency=2,
            cap=limits.concurrency_cap(KEY, 2, longest_call_s=5.0),
        )
        for limits in processes
    ]

    async def verdict(llm: GeminiLLM) -> str:
        return [snapshot async for snapshot in llm.stream(request("Chair"))][-1].text

    try:
        for limits in processes:
            await limits.start()
        answers = await asyncio.gather(
            *(llm.generate(request()) for llm in llms for _ in range(3)), *(verdict(llm) for llm in llms)
        )
    finally:
        for llm in llms:
            await llm.aclose()
        for limits in processes:
            await limits.aclose()
    assert len(answers) == 8
    assert gemini.most_in_flight == 2  # alone, each process would have had 2 in flight: 4 together


async def test_the_thinking_level_is_sent_as_a_budget_googles_published_types_define(
    gemini: FakeGemini, llm: GeminiLLM
) -> None:
    thinking = LLMRequest(
        model=MODEL, system="x", prompt="y", timeout_s=5.0, max_output_tokens=5000, thinking=Thinking.LOW
    )
    await llm.generate(thinking)
    await llm.generate(request())
    with_level, without_level = gemini.calls
    assert (with_level.thinking_budget, with_level.thinking_level) == (THINKING_BUDGETS[Thinking.LOW], None)
    assert with_level.thoughts_tokens == 1024, "the fake spends the budget asked for"
    assert "thinkingConfig" not in without_level.generation_config


# A schema as the core may hold one: read-only mappings and tuples, which the SDK cannot serialise as is.
STANCE_SCHEMA = MappingProxyType(
    {
        "type": "object",
        "properties": MappingProxyType(
            {
                "stance": MappingProxyType({"type": "string", "enum": ("for", "against")}),
                "confidence": MappingProxyType({"type": "number", "minimum": 0, "maximum": 1}),
            }
        ),
        "required": ("stance", "confidence"),
    }
)
STANCE_SCHEMA_AS_SENT = {
    "type": "object",
    "properties": {
        "stance": {"type": "string", "enum": ["for", "against"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["stance", "confidence"],
}


def test_a_response_schema_asks_for_json_that_follows_it() -> None:
    config = GeminiLLM._config(replace(request(), response_schema=STANCE_SCHEMA))
    plain = GeminiLLM._config(request())

    assert config.response_mime_type == JSON_MIME_TYPE == "application/json"
    assert json.dumps(config.response_json_schema) == json.dumps(STANCE_SCHEMA_AS_SENT)
    assert config.response_schema is None
    assert (plain.response_mime_type, plain.response_json_schema) == (None, None)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_structured_request_reaches_gemini_with_its_schema_and_gets_json(
    gemini: FakeGemini, llm: GeminiLLM, stream: bool
) -> None:
    structured = replace(request(), response_schema=STANCE_SCHEMA)
    if stream:
        completion = [snapshot async for snapshot in llm.stream(structured)][-1]
    else:
        completion = await llm.generate(structured)

    (call,) = gemini.calls
    assert (call.api_version, call.status) == ("v1beta", 200)
    assert call.response_mime_type == "application/json"
    assert call.response_schema == STANCE_SCHEMA_AS_SENT
    document = json.loads(completion.text)  # the fake's unscripted answer follows the schema
    assert list(document) == ["stance", "confidence"]
    assert document["stance"] in ("for", "against")
    assert document["confidence"] == 0.5
    assert completion.finish is FinishReason.STOP


async def test_a_streamed_structured_reply_arrives_whole_as_scripted(
    gemini: FakeGemini, llm: GeminiLLM
) -> None:
    document = {"stance": "against", "confidence": 0.9}
    gemini.script("Rebel", Reply.json(document, chunk_count=3))
    snapshots = [snapshot async for snapshot in llm.stream(replace(request(), response_schema=STANCE_SCHEMA))]

    text = json.dumps(document)
    first, second, _ = even_chunks(text, 3)
    assert [(s.text, s.finish) for s in snapshots] == [
        (first, None),
        (first + second, None),
        (text, None),
        (text, FinishReason.STOP),
    ]
    assert json.loads(snapshots[-1].text) == document


def test_every_level_leaves_its_budget_room_in_the_output_limit() -> None:
    for level, budget in THINKING_BUDGETS.items():
        assert THINKING_ALLOWANCE[level] >= budget


async def test_the_sdk_timeout_never_cuts_a_call_shorter_than_its_budget(gemini: FakeGemini) -> None:
    gemini.script("Rebel", Reply("slow but sure", latency=1.5))
    adapter = GeminiLLM(KEY, base_url=gemini.base_url, longest_call_s=0.5)
    try:
        # The client-wide timeout sits above the longest budget, so a 3 s budget is the one that counts.
        completion = await adapter.generate(request(timeout_s=3.0))
    finally:
        await adapter.aclose()
    assert completion.text == "slow but sure"


async def test_known_models_pass_the_start_up_check(llm: GeminiLLM) -> None:
    await llm.check_models({"PERSONA_MODEL": [MODEL], "ALLOWED_MODELS": [MODEL, "gemini-3.5-flash"]})


async def test_unknown_models_are_named_with_their_variables(llm: GeminiLLM) -> None:
    with pytest.raises(GeminiSetupError) as caught:
        await llm.check_models(
            {"PERSONA_MODEL": ["gemini-9-nope"], "VERDICT_MODEL": [MODEL], "ALLOWED_MODELS": ["typo-model"]}
        )
    message = str(caught.value)
    assert "PERSONA_MODEL=gemini-9-nope" in message
    assert "ALLOWED_MODELS=typo-model" in message
    assert "\n" not in message


async def test_a_refused_key_stops_the_start_up_check(gemini: FakeGemini) -> None:
    wrong = GeminiLLM("not-the-key", base_url=gemini.base_url)
    try:
        with pytest.raises(GeminiSetupError, match="GEMINI_API_KEY"):
            await wrong.check_models({"PERSONA_MODEL": [MODEL]})
    finally:
        await wrong.aclose()


async def test_an_unreachable_gemini_does_not_stop_the_start_up_check() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = GeminiLLM(KEY, base_url=f"http://127.0.0.1:{port}")
    try:
        await adapter.check_models({"PERSONA_MODEL": [MODEL]}, timeout_s=2.0)
    finally:
        await adapter.aclose()


async def test_a_model_listed_under_several_variables_is_named_under_the_first(llm: GeminiLLM) -> None:
    with pytest.raises(GeminiSetupError) as caught:
        await llm.check_models(
            {"PERSONA_MODEL": ["gemini-9-nope"], "ALLOWED_MODELS": ["gemini-9-nope", MODEL]}
        )
    assert "PERSONA_MODEL=gemini-9-nope" in str(caught.value)
    assert "ALLOWED_MODELS" not in str(caught.value)


SOURCES = (
    WebSource("uefa.com", "https://vertexaisearch.cloud.google.com/grounding-api-redirect/a"),
    WebSource("", "https://vertexaisearch.cloud.google.com/grounding-api-redirect/b"),
)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_grounded_request_sends_the_search_tool_and_reads_the_grounding(
    gemini: FakeGemini, llm: GeminiLLM, stream: bool
) -> None:
    gemini.script("Rebel", Reply("Spain won. It was close.", sources=SOURCES, search_queries=["euro 2024"]))
    grounded = replace(request(), grounded=True, response_schema=None)

    if stream:
        snapshots = [snapshot async for snapshot in llm.stream(grounded)]
        assert all(snapshot.grounding is None for snapshot in snapshots[:-1])
        completion = snapshots[-1]
    else:
        completion = await llm.generate(grounded)

    assert completion.text == "Spain won. It was close."
    assert completion.grounding is not None
    assert completion.grounding.sources == (
        Source("uefa.com", SOURCES[0].uri),
        Source("", SOURCES[1].uri),
    )
    assert completion.grounding.queries == ("euro 2024",)
    assert "https://www.google.com/search?q=euro+2024" in completion.grounding.suggestions_html
    assert gemini.calls[0].tools == [{"googleSearch": {}}]


async def test_a_structured_grounded_request_keeps_its_schema_on_gemini_3(
    gemini: FakeGemini, llm: GeminiLLM
) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    completion = await llm.generate(replace(request(), grounded=True, response_schema=schema))

    assert list(json.loads(completion.text)) == ["answer"]
    assert completion.grounding is not None
    assert len(completion.grounding.sources) == 2
    (call,) = gemini.calls
    assert call.grounded
    assert call.response_schema == schema


async def test_an_ungrounded_request_sends_no_tools_and_has_no_grounding(
    gemini: FakeGemini, llm: GeminiLLM
) -> None:
    completion = await llm.generate(request())

    assert completion.grounding is None
    (call,) = gemini.calls
    assert call.tools == []
    assert "tools" not in call.body


async def test_a_grounded_answer_without_a_search_has_no_grounding(
    gemini: FakeGemini, llm: GeminiLLM
) -> None:
    gemini.script("Rebel", Reply("I know this one.", sources=[]))
    completion = await llm.generate(replace(request(), grounded=True))

    assert completion.grounding is None
    assert gemini.calls[0].grounded
