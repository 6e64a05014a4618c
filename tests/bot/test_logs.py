"""The redacting log filter: tokens and keys never reach a log line, everything else stays readable."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from bot.logs import (
    LOG_FORMAT,
    REDACTED,
    DebateFilter,
    RedactingFilter,
    configure_logging,
    logging_for_debate,
)

BOT_TOKEN = "MTE3NTE1MTEzMTE3MTA5NDUyOA.GhJkLm.abcdefghijklmnopqrstuvwxyz0123456789AB"
GEMINI_KEY = "AIzaSyD-test-gemini-key-0123456789abcdef"
INTERACTION_TOKEN = "aW50ZXJhY3Rpb246MTU3NTE1MTE0MDkyNzA0NTYzMjpLamtWSFdxOEtQTWY1OENoSkl6UkJp"
APP_ID = "1575151131171094528"
INTERACTION_ID = "1575151140927045632"


def shown(msg: str, *args: Any, exc_info: Any = None) -> str:
    """What a handler with the filter writes for a record logged as ``msg % args``."""
    record = logging.LogRecord("discord.gateway", logging.DEBUG, __file__, 1, msg, args, exc_info)
    assert RedactingFilter([BOT_TOKEN, GEMINI_KEY]).filter(record)
    return logging.Formatter("%(message)s").format(record)


def test_the_known_secrets_are_redacted_wherever_they_appear() -> None:
    text = shown("logging in with %s, then calling Gemini with %s.", BOT_TOKEN, GEMINI_KEY)
    assert text == f"logging in with {REDACTED}, then calling Gemini with {REDACTED}."


def test_a_secret_containing_another_is_redacted_whole() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "key abc-def", (), None)
    RedactingFilter(["abc", "abc-def"]).filter(record)
    assert record.getMessage() == f"key {REDACTED}"


def test_the_interaction_token_in_a_webhook_url_is_redacted() -> None:
    url = f"http://127.0.0.1:8000/api/v10/webhooks/{APP_ID}/{INTERACTION_TOKEN}/messages/@original"
    text = shown("Webhook ID %s with %s %s has returned status code %s", APP_ID, "PATCH", url, 200)
    assert INTERACTION_TOKEN not in text
    assert f"/webhooks/{APP_ID}/{REDACTED}/messages/@original has returned status code 200" in text


def test_the_interaction_token_in_a_callback_url_is_redacted() -> None:
    url = f"https://discord.com/api/v10/interactions/{INTERACTION_ID}/{INTERACTION_TOKEN}/callback"
    text = shown("POST %s with %s has returned 204", url, '{"type":5}')
    assert text == (
        f"POST https://discord.com/api/v10/interactions/{INTERACTION_ID}/{REDACTED}/callback"
        ' with {"type":5} has returned 204'
    )


def test_route_templates_stay_readable() -> None:
    message = (
        "POST /webhooks/{webhook_id}/{webhook_token} has found its initial rate limit bucket hash (5f6)."
    )
    assert shown(message) == message


def test_the_token_field_of_a_json_gateway_payload_is_redacted() -> None:
    payload = (
        '{"t":"INTERACTION_CREATE","s":3,"op":0,"d":{"id":"' + INTERACTION_ID + '","application_id":"'
        f'{APP_ID}","token": "{INTERACTION_TOKEN}","type":2,"version":1}}}}'
    )
    text = shown("Received %s", payload)
    assert INTERACTION_TOKEN not in text
    assert f'"token": "{REDACTED}","type":2' in text
    assert f'"id":"{INTERACTION_ID}","application_id":"{APP_ID}"' in text


def test_the_token_field_of_an_escaped_json_string_is_redacted() -> None:
    text = shown("%s", '"{\\"token\\":\\"' + INTERACTION_TOKEN + '\\"}"')
    assert text == '"{\\"token\\":\\"' + REDACTED + '\\"}"'


def test_the_token_key_of_a_dict_repr_is_redacted() -> None:
    event = {"t": "INTERACTION_CREATE", "op": 0, "d": {"id": INTERACTION_ID, "token": INTERACTION_TOKEN}}
    text = shown("For Shard ID %s: WebSocket Event: %s", 0, event)
    assert text == (
        "For Shard ID 0: WebSocket Event: {'t': 'INTERACTION_CREATE', 'op': 0, "
        f"'d': {{'id': '{INTERACTION_ID}', 'token': '{REDACTED}'}}}}"
    )


def test_token_fields_in_reprs_and_other_token_names_are_redacted() -> None:
    text = shown(
        "%s; %s", f"FakeInteraction(id=1, token='{INTERACTION_TOKEN}')", {"access_token": "ya29.a0b"}
    )
    assert text == f"FakeInteraction(id=1, token='{REDACTED}'); {{'access_token': '{REDACTED}'}}"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Authorization: Bot MTE3.xyz.abc", f"Authorization: Bot {REDACTED}"),
        ("authorization=Bearer ya29.a0AfH6", f"authorization=Bearer {REDACTED}"),
        (
            "{'User-Agent': 'DiscordBot', 'Authorization': 'Bot MTE3.xyz.abc'}",
            f"{{'User-Agent': 'DiscordBot', 'Authorization': 'Bot {REDACTED}'}}",
        ),
        ('{"authorization": "Bearer ya29.a0AfH6"}', f'{{"authorization": "Bearer {REDACTED}"}}'),
    ],
)
def test_authorization_header_values_are_redacted(line: str, expected: str) -> None:
    assert shown(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("x-goog-api-key: AIzaSyOther", f"x-goog-api-key: {REDACTED}"),
        (
            "{'Content-Type': 'application/json', 'x-goog-api-key': 'AIzaSyOther'}",
            f"{{'Content-Type': 'application/json', 'x-goog-api-key': '{REDACTED}'}}",
        ),
        ('{"X-Goog-Api-Key":"AIzaSyOther"}', f'{{"X-Goog-Api-Key":"{REDACTED}"}}'),
    ],
)
def test_the_gemini_api_key_header_is_redacted(line: str, expected: str) -> None:
    assert shown(line) == expected


def test_key_query_parameters_are_redacted() -> None:
    url = "https://generativelanguage.googleapis.com/v1beta/models/m:streamGenerateContent?alt=sse&key=AIzaX"
    assert shown("GET %s", url) == f"GET {url.removesuffix('AIzaX')}{REDACTED}"
    assert shown("GET /v1?key=AIzaX&alt=sse and /auth?token=t0k#top") == (
        f"GET /v1?key={REDACTED}&alt=sse and /auth?token={REDACTED}#top"
    )


def test_percent_arguments_are_formatted_once_then_dropped() -> None:
    args = ("GET", f"/webhooks/{APP_ID}/{INTERACTION_TOKEN}", 200)
    record = logging.LogRecord(
        "discord.http", logging.DEBUG, __file__, 1, "%s %s has returned %d", args, None
    )
    RedactingFilter([]).filter(record)
    assert record.msg == f"GET /webhooks/{APP_ID}/{REDACTED} has returned 200"
    assert record.args == ()
    assert record.getMessage() == record.msg


def test_a_record_whose_arguments_do_not_fit_is_shown_redacted_without_raising() -> None:
    text = shown("logging in with %d", BOT_TOKEN)
    assert BOT_TOKEN not in text
    assert text.startswith("logging in with %d (unformattable arguments: ")


def test_secrets_in_an_exception_are_redacted_from_the_traceback() -> None:
    try:
        raise RuntimeError(f"401 for /webhooks/{APP_ID}/{INTERACTION_TOKEN} with key {GEMINI_KEY}")
    except RuntimeError:
        text = shown("request failed", exc_info=sys.exc_info())
    assert INTERACTION_TOKEN not in text
    assert GEMINI_KEY not in text
    assert text.startswith("request failed\nTraceback (most recent call last):")
    assert f"RuntimeError: 401 for /webhooks/{APP_ID}/{REDACTED} with key {REDACTED}" in text


def test_an_exception_text_already_cached_by_another_handler_is_redacted() -> None:
    record = logging.LogRecord("bot", logging.ERROR, __file__, 1, "failed", (), None)
    record.exc_text = f"Traceback …\nValueError: {BOT_TOKEN}"
    record.stack_info = f"Stack (most recent call last):\n  token='{INTERACTION_TOKEN}'"
    RedactingFilter([BOT_TOKEN]).filter(record)
    assert record.exc_text == f"Traceback …\nValueError: {REDACTED}"
    assert record.stack_info == f"Stack (most recent call last):\n  token='{REDACTED}'"


@pytest.mark.parametrize(
    "line",
    [
        f"Shard ID 0 has connected to Gateway (Session ID: 5f6bc08c46cee6f21bfcdd08aff6e8aa) as {APP_ID}.",
        "gemini gemini-3.1-flash-lite attempt 2: 503 UNAVAILABLE",
        "Improper token has been passed; the tokens used: 1204 prompt_token_count=17 'total_token_count': 42",
        "authorization failed for the guild, monkey=banana, keyboard=qwerty, a&b=c",
        "GET /api/v10/channels/1575151131175288834/messages?limit=50&after=1575151131175288000",
        "Bot Parley is ready as Parley#0000 (Bearer of good news)",
    ],
)
def test_text_without_secrets_is_left_alone(line: str) -> None:
    assert shown(line) == line


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, emptied for the test and given back its handlers and level afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers = []
    try:
        yield root
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers, level = saved
        root.setLevel(level)


def test_configure_logging_redacts_the_records_of_every_logger(
    root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("DEBUG", [BOT_TOKEN, GEMINI_KEY])

    (handler,) = root_logger.handlers
    assert any(isinstance(f, RedactingFilter) for f in handler.filters)
    assert root_logger.level == logging.DEBUG
    logging.getLogger("discord.gateway").debug("WebSocket Event: %s", {"d": {"token": INTERACTION_TOKEN}})
    logging.getLogger("discord.http").debug("POST /interactions/1/%s/callback", INTERACTION_TOKEN)
    logging.getLogger("aiohttp.client").debug("headers %s", {"Authorization": f"Bot {BOT_TOKEN}"})
    logging.getLogger("google_genai._api_client").info("GET /v1?key=%s", GEMINI_KEY)

    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        f"DEBUG   discord.gateway: WebSocket Event: {{'d': {{'token': '{REDACTED}'}}}}",
        f"DEBUG   discord.http: POST /interactions/1/{REDACTED}/callback",
        f"DEBUG   aiohttp.client: headers {{'Authorization': 'Bot {REDACTED}'}}",
        f"INFO    google_genai._api_client: GET /v1?key={REDACTED}",
    ]


def test_configure_logging_honours_the_level(
    root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("WARNING", [BOT_TOKEN])
    logging.getLogger("discord.gateway").info("hidden")
    logging.getLogger("bot").warning("shown with %s", BOT_TOKEN)
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(f"WARNING bot: shown with {REDACTED}")


async def test_lines_logged_while_a_debate_runs_name_it_and_others_do_not(
    root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", [BOT_TOKEN])
    log = logging.getLogger("bot.debates")

    async def in_a_task_the_debate_started() -> None:
        log.info("answer recorded")

    log.info("before")
    with logging_for_debate(42):
        log.info("started")
        await asyncio.create_task(in_a_task_the_debate_started())
        # a task made with a fresh context (the shared per-channel sender) is no debate's
        await asyncio.create_task(in_a_task_the_debate_started(), context=contextvars.Context())
        with logging_for_debate(43):  # a continuation held from inside another debate's task
            log.info("continued")
        log.warning("still %s", BOT_TOKEN)
    log.info("after")

    lines = [line.split(" ", 2)[2] for line in capsys.readouterr().err.splitlines()]
    assert lines == [
        "INFO    bot.debates: before",
        "INFO    bot.debates debate=42: started",
        "INFO    bot.debates debate=42: answer recorded",
        "INFO    bot.debates: answer recorded",
        "INFO    bot.debates debate=43: continued",
        f"WARNING bot.debates debate=42: still {REDACTED}",
        "INFO    bot.debates: after",
    ]


def test_the_debate_filter_leaves_the_field_empty_outside_a_debate() -> None:
    record = logging.LogRecord("bot", logging.INFO, __file__, 1, "hello", (), None)
    assert DebateFilter().filter(record)
    assert logging.Formatter(LOG_FORMAT.replace("%(asctime)s ", "")).format(record) == "INFO    bot: hello"
    with logging_for_debate(7):
        assert DebateFilter().filter(record)
    assert getattr(record, "debate", None) == " debate=7"
