"""Settings: defaults, validation with one-line messages, secrets that never show."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import (
    DEFAULT_DISCORD_API_BASE,
    INTERACTION_LIFETIME_S,
    MAX_PERSONA_TIMEOUT_S,
    TOKEN_PLACEHOLDERS,
    Secret,
    Settings,
    SettingsError,
    settings_from,
)

REQUIRED = {"DISCORD_TOKEN": "discord-secret-token", "GEMINI_API_KEY": "gemini-secret-key"}
ROOT = Path(__file__).resolve().parents[2]


def test_defaults_follow_the_contract() -> None:
    settings = settings_from(REQUIRED)
    assert settings.discord_token.reveal() == "discord-secret-token"
    assert settings.gemini_api_key.reveal() == "gemini-secret-key"
    assert settings.discord_api_base == DEFAULT_DISCORD_API_BASE == "https://discord.com/api/v10"
    assert not settings.custom_discord_api
    assert settings.gemini_base_url is None
    assert settings.database_url == "sqlite+aiosqlite:///parley.db"
    assert (settings.persona_model, settings.verdict_model) == ("gemini-3.1-flash-lite", "gemini-3.5-flash")
    assert settings.allowed_models == ("gemini-3.1-flash-lite", "gemini-3.5-flash")
    assert settings.persona_timeout_s == 60.0
    assert settings.gemini_max_concurrency == 32
    # Public-server defaults: one member cannot flood a server, one server cannot run up the bill.
    assert (settings.debate_cooldown_s, settings.max_debates_per_guild, settings.daily_token_budget) == (
        20,
        25,
        500_000,
    )
    assert settings.shutdown_grace_s == 30.0
    assert (settings.dev_guild_id, settings.shard_count, settings.shard_ids) == (None, None, None)
    assert settings.log_level == "INFO"
    assert settings.metrics_port is None


def test_every_variable_is_read() -> None:
    settings = settings_from(
        {
            **REQUIRED,
            "DISCORD_API_BASE": "http://127.0.0.1:8080/api/v10/",
            "GEMINI_BASE_URL": "http://127.0.0.1:9090",
            "DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1/test",
            "PERSONA_MODEL": "small",
            "VERDICT_MODEL": "big",
            "ALLOWED_MODELS": "small, big ,small,huge",
            "VERDICT_FALLBACK_MODEL": "spare",
            "PERSONA_TIMEOUT_S": "12.5",
            "GEMINI_MAX_CONCURRENCY": "4",
            "DEBATE_COOLDOWN_S": "30",
            "MAX_DEBATES_PER_GUILD": "3",
            "DAILY_TOKEN_BUDGET": "250000",
            "SHUTDOWN_GRACE_S": "5",
            "DEV_GUILD_ID": "123",
            "SHARD_COUNT": "4",
            "SHARD_IDS": "0,2",
            "LOG_LEVEL": "debug",
            "METRICS_PORT": "9108",
        }
    )
    assert settings.discord_api_base == "http://127.0.0.1:8080/api/v10"
    assert settings.custom_discord_api
    assert settings.gemini_base_url == "http://127.0.0.1:9090"
    assert settings.database_url == "postgresql+asyncpg://postgres@127.0.0.1/test"
    assert settings.allowed_models == ("small", "big", "huge")
    assert settings.verdict_fallback_model == "spare"
    assert settings.persona_timeout_s == 12.5
    assert settings.gemini_max_concurrency == 4
    assert (settings.debate_cooldown_s, settings.max_debates_per_guild, settings.daily_token_budget) == (
        30,
        3,
        250000,
    )
    assert settings.shutdown_grace_s == 5.0
    assert settings.dev_guild_id == 123
    assert (settings.shard_count, settings.shard_ids) == (4, (0, 2))
    assert settings.log_level == "DEBUG"
    assert settings.metrics_port == 9108


@pytest.mark.parametrize("name", ["DISCORD_TOKEN", "GEMINI_API_KEY"])
@pytest.mark.parametrize("value", [None, "", "   ", "placeholder"])
def test_a_missing_or_malformed_secret_names_the_variable_and_env_file(name: str, value: str | None) -> None:
    env = dict(REQUIRED)
    if value is None:
        del env[name]
    else:
        env[name] = TOKEN_PLACEHOLDERS[name] if value == "placeholder" else value
    with pytest.raises(SettingsError) as caught:
        settings_from(env)
    message = str(caught.value)
    assert name in message
    assert ".env" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {},
            "DISCORD_TOKEN is missing and GEMINI_API_KEY is missing: "
            "set DISCORD_TOKEN and GEMINI_API_KEY in the environment or in .env (see .env.example)",
        ),
        (
            {"DISCORD_TOKEN": " ", "GEMINI_API_KEY": TOKEN_PLACEHOLDERS["GEMINI_API_KEY"]},
            "DISCORD_TOKEN is missing and GEMINI_API_KEY still holds the .env.example placeholder: "
            "set DISCORD_TOKEN and GEMINI_API_KEY in the environment or in .env (see .env.example)",
        ),
        (
            {"DISCORD_TOKEN": TOKEN_PLACEHOLDERS["DISCORD_TOKEN"], "LOG_LEVEL": "LOUD"},
            "DISCORD_TOKEN still holds the .env.example placeholder and GEMINI_API_KEY is missing: "
            "set DISCORD_TOKEN and GEMINI_API_KEY in the environment or in .env (see .env.example)",
        ),
    ],
)
def test_every_missing_or_placeholder_secret_is_named_at_once_in_one_line(
    env: dict[str, str], line: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from(env)
    assert str(caught.value) == line


def test_tokens_are_never_checked_for_format() -> None:
    settings = settings_from({"DISCORD_TOKEN": "x", "GEMINI_API_KEY": "fake key with spaces"})
    assert settings.discord_token.reveal() == "x"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"DISCORD_API_BASE": "discord.com/api"}, "DISCORD_API_BASE must be an http:// or https:// URL"),
        ({"GEMINI_BASE_URL": "ftp://x"}, "GEMINI_BASE_URL must be an http:// or https:// URL"),
        ({"PERSONA_TIMEOUT_S": "soon"}, "PERSONA_TIMEOUT_S must be a float number"),
        ({"PERSONA_TIMEOUT_S": "0"}, "PERSONA_TIMEOUT_S must be at least 1.0"),
        ({"GEMINI_MAX_CONCURRENCY": "2.5"}, "GEMINI_MAX_CONCURRENCY must be a int number"),
        ({"GEMINI_MAX_CONCURRENCY": "0"}, "GEMINI_MAX_CONCURRENCY must be at least 1"),
        ({"SHARD_IDS": "0"}, "SHARD_IDS needs SHARD_COUNT"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0,2"}, "SHARD_IDS must list distinct shards from 0 to 1"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "a"}, "SHARD_IDS must be a comma list of numbers"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR"),
        ({"METRICS_PORT": "http"}, "METRICS_PORT must be a int number"),
        ({"METRICS_PORT": "0"}, "METRICS_PORT must be at least 1"),
        ({"METRICS_PORT": "65536"}, "METRICS_PORT must be at most 65535"),
    ],
)
def test_bad_values_are_refused_clearly(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingsError, match=fragment):
        settings_from({**REQUIRED, **env})


FLOAT_SETTINGS = sorted(
    name.upper() for name, field in Settings.__dataclass_fields__.items() if field.type == "float"
)


def test_the_float_settings_are_the_timeouts_and_the_grace() -> None:
    assert FLOAT_SETTINGS == ["PERSONA_TIMEOUT_S", "SHUTDOWN_GRACE_S"]


@pytest.mark.parametrize("variable", FLOAT_SETTINGS)
@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
def test_no_float_setting_takes_nan_or_infinity(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from({**REQUIRED, variable: value})
    assert str(caught.value) == (
        f"{variable} must be a finite number, got {value!r}: "
        f"set {variable} in the environment or in .env (see .env.example)"
    )


def test_a_persona_timeout_that_would_outlive_the_interaction_is_refused_with_the_maximum() -> None:
    assert settings_from({**REQUIRED, "PERSONA_TIMEOUT_S": "120"}).persona_timeout_s == 120.0
    with pytest.raises(SettingsError) as caught:
        settings_from({**REQUIRED, "PERSONA_TIMEOUT_S": "121"})
    message = str(caught.value)
    assert message.startswith("PERSONA_TIMEOUT_S must be at most 120.0, got '121' (a debate takes up to 6×")
    assert "15 minutes" in message
    assert "\n" not in message


def test_the_longest_allowed_debate_ends_well_inside_the_interaction_token() -> None:
    longest = settings_from(
        {
            **REQUIRED,
            "PERSONA_TIMEOUT_S": str(MAX_PERSONA_TIMEOUT_S),
            "VERDICT_FALLBACK_MODEL": "gemini-3.1-pro",
        }
    )
    # The debate service's deadline: three rounds of personas, the verdict twice and a posting margin.
    assert longest.longest_debate_s > 3 * longest.persona_timeout_s + 2 * longest.verdict_timeout_s
    assert longest.longest_debate_s <= INTERACTION_LIFETIME_S - 60, "a minute to spare before the token dies"
    without_fallback = settings_from({**REQUIRED, "PERSONA_TIMEOUT_S": str(MAX_PERSONA_TIMEOUT_S)})
    assert without_fallback.longest_debate_s == longest.longest_debate_s - longest.verdict_timeout_s


def test_the_verdict_fallback_model_is_optional_and_checked_like_the_others() -> None:
    assert settings_from(REQUIRED).verdict_fallback_model is None
    assert settings_from(
        {**REQUIRED, "VERDICT_FALLBACK_MODEL": " gemini-3.1-pro "}
    ).verdict_fallback_model == ("gemini-3.1-pro")
    with pytest.raises(SettingsError, match=r"^VERDICT_FALLBACK_MODEL holds a model name of 101 characters"):
        settings_from({**REQUIRED, "VERDICT_FALLBACK_MODEL": "m" * 101})


def test_a_model_name_longer_than_a_discord_choice_is_refused() -> None:
    settings_from({**REQUIRED, "ALLOWED_MODELS": "m" * 100})
    for variable in ("PERSONA_MODEL", "VERDICT_MODEL", "ALLOWED_MODELS"):
        with pytest.raises(SettingsError, match=f"^{variable} holds a model name of 101 characters"):
            settings_from({**REQUIRED, variable: "m" * 101})


def test_secrets_never_show_in_reprs_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    settings = settings_from(REQUIRED)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("test").info("settings: %s / %r", settings, settings)
    for text in (repr(settings), str(settings), caplog.text, repr(Secret("abc")), f"{Secret('abc')}"):
        assert "discord-secret-token" not in text
        assert "gemini-secret-key" not in text
        assert "abc" not in text
    assert isinstance(settings, Settings)


def run_module(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_python_m_bot_without_a_token_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    result = run_module({"PATH": "/usr/bin:/bin", "GEMINI_API_KEY": "k", "PYTHONPATH": str(ROOT)}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "parley: DISCORD_TOKEN is missing: set DISCORD_TOKEN in the environment or in .env (see .env.example)"
    ]
    assert "Traceback" not in result.stderr


def test_env_file_is_read_from_the_working_directory_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        f"DISCORD_TOKEN={TOKEN_PLACEHOLDERS['DISCORD_TOKEN']}\nGEMINI_API_KEY=from-file\n"
    )
    result = run_module({"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, tmp_path)
    assert result.returncode == 2
    assert "DISCORD_TOKEN still holds the .env.example placeholder" in result.stderr
    overridden = run_module(
        {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "DISCORD_TOKEN": "", "GEMINI_API_KEY": "x"},
        tmp_path,
    )
    assert "DISCORD_TOKEN is missing" in overridden.stderr


def test_env_example_documents_every_setting() -> None:
    example = (ROOT / ".env.example").read_text()
    for name in Settings.__dataclass_fields__:
        variable = {
            "persona_timeout_s": "PERSONA_TIMEOUT_S",
            "gemini_max_concurrency": "GEMINI_MAX_CONCURRENCY",
        }.get(name, name.upper())
        assert f"{variable}=" in example, variable
    for variable, placeholder in TOKEN_PLACEHOLDERS.items():
        assert f"{variable}={placeholder}\n" in example


def test_the_public_server_defaults_are_documented_with_their_values() -> None:
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    defaults = settings_from(REQUIRED)
    for variable, value in (
        ("DEBATE_COOLDOWN_S", defaults.debate_cooldown_s),
        ("DAILY_TOKEN_BUDGET", defaults.daily_token_budget),
    ):
        assert f"# {variable}={value}\n" in example, variable
        (row,) = [line for line in readme.splitlines() if line.startswith(f"| `{variable}` |")]
        assert row.endswith(f"| `{value}` |"), row


def test_the_terminal_mode_needs_only_the_gemini_key() -> None:
    settings = settings_from({"GEMINI_API_KEY": "a-key"}, discord=False)
    assert settings.gemini_api_key.reveal() == "a-key"
    assert settings.discord_token.reveal() == ""
    with pytest.raises(SettingsError, match=r"^GEMINI_API_KEY is missing: set GEMINI_API_KEY in"):
        settings_from({"DISCORD_TOKEN": "a-token"}, discord=False)
    with pytest.raises(SettingsError, match="DISCORD_TOKEN is missing"):
        settings_from({"GEMINI_API_KEY": "a-key"})


def test_without_redis_url_each_process_keeps_its_own_limits() -> None:
    assert settings_from(REQUIRED).redis_url is None
    assert settings_from({**REQUIRED, "REDIS_URL": "  "}).redis_url is None


@pytest.mark.parametrize(
    "url",
    [
        "redis://localhost:6379/0",
        "redis://127.0.0.1",
        "rediss://default:secret@redis.example:6380/2",
        "redis://:secret@[::1]:6379",
    ],
)
def test_redis_url_takes_redis_and_rediss_urls_and_keeps_them_secret(url: str) -> None:
    settings = settings_from({**REQUIRED, "REDIS_URL": f" {url} "})
    assert settings.redis_url is not None
    assert settings.redis_url.reveal() == url
    assert "secret" not in repr(settings)


@pytest.mark.parametrize(
    "url",
    [
        "localhost:6379",
        "http://localhost:6379",
        "redis://",
        "redis://host:port",
        "redis://host/db",
        "unix:///r",
    ],
)
def test_a_redis_url_that_is_not_one_is_refused_in_one_line(url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from({**REQUIRED, "REDIS_URL": url})
    assert str(caught.value) == (
        f"REDIS_URL must be a redis:// or rediss:// URL such as redis://localhost:6379/0, got {url!r}: "
        "set REDIS_URL in the environment or in .env (see .env.example)"
    )


def test_a_refused_redis_url_never_shows_its_password() -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from({**REQUIRED, "REDIS_URL": "redis://user:hunter2@host:99999/0"})
    assert "hunter2" not in str(caught.value)
    assert "got a URL with credentials" in str(caught.value)
