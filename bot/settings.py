"""The one place that reads the environment (and ``.env``): typed, validated, with clear errors."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from dotenv import find_dotenv, load_dotenv

from bot.core.debate import DebateConfig
from bot.core.llm import Thinking
from bot.core.validation import MAX_ROUNDS, MODEL_NAME_MAX_LENGTH

DEFAULT_DISCORD_API_BASE = "https://discord.com/api/v10"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///parley.db"
DEFAULT_PERSONA_MODEL = "gemini-3.1-flash-lite"
DEFAULT_VERDICT_MODEL = "gemini-3.5-flash"
DEFAULT_PERSONA_THINKING = Thinking.MINIMAL
DEFAULT_VERDICT_THINKING = Thinking.LOW

# The placeholders `.env.example` ships with; a token still equal to one was never filled in.
TOKEN_PLACEHOLDERS = {
    "DISCORD_TOKEN": "paste-your-discord-bot-token-here",
    "GEMINI_API_KEY": "paste-your-gemini-api-key-here",
}


INTERACTION_LIFETIME_S = 15 * 60
"""How long Discord lets a bot use an interaction's token: the whole debate must fit inside it."""
VERDICT_TIMEOUT_FACTOR = 1.5
DEBATE_POSTING_MARGIN_S = 60.0
"""Time a debate may take beyond its personas' and verdict's budgets, to post them (see
:attr:`Settings.longest_debate_s`, the debate service's deadline)."""
LONGEST_DEBATE_FACTOR = MAX_ROUNDS + 2 * VERDICT_TIMEOUT_FACTOR
"""A debate's budget in persona budgets: its rounds, and a verdict its fallback may write again."""
MAX_PERSONA_TIMEOUT_S = 120.0
"""The longest persona budget: 3 × 120 + 2 × 180 (verdict) + 60 = 780 s, two minutes inside the token."""

DEFAULT_DEBATE_COOLDOWN_S = 20
"""A member waits this long between two debates they start: one member cannot flood a public server."""
DEFAULT_DAILY_TOKEN_BUDGET = 500_000
"""Gemini tokens a server may use per UTC day, about a hundred debates: one server cannot run up the bill."""

N = TypeVar("N", int, float)


class SettingsError(Exception):
    """A configuration problem, worded as one line for the person running the bot."""


class Secret:
    """A string that never shows itself in reprs, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything Parley reads from its environment. See the README's configuration table."""

    discord_token: Secret
    gemini_api_key: Secret
    discord_api_base: str = DEFAULT_DISCORD_API_BASE
    gemini_base_url: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: Secret | None = None
    """Where the limits every process shares are kept; ``None``: each process keeps its own. A secret:
    it may hold a password."""
    persona_model: str = DEFAULT_PERSONA_MODEL
    verdict_model: str = DEFAULT_VERDICT_MODEL
    allowed_models: tuple[str, ...] = (DEFAULT_PERSONA_MODEL, DEFAULT_VERDICT_MODEL)
    persona_timeout_s: float = 60.0
    persona_thinking: Thinking = DEFAULT_PERSONA_THINKING
    verdict_thinking: Thinking = DEFAULT_VERDICT_THINKING
    verdict_fallback_model: str | None = None
    gemini_max_concurrency: int = 32
    debate_cooldown_s: int = DEFAULT_DEBATE_COOLDOWN_S
    max_debates_per_guild: int = 25
    daily_token_budget: int = DEFAULT_DAILY_TOKEN_BUDGET
    shutdown_grace_s: float = 30.0
    dev_guild_id: int | None = None
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    log_level: str = "INFO"
    metrics_port: int | None = None
    """Where Prometheus metrics are served (``/metrics``); ``None``: not served."""

    @property
    def verdict_timeout_s(self) -> float:
        """The verdict's budget: it reads every answer and writes the longest text."""
        return self.persona_timeout_s * VERDICT_TIMEOUT_FACTOR

    @property
    def longest_debate_s(self) -> float:
        """The longest a debate may take: every round of its personas, its verdict (twice, when the
        fallback writes it) and the posting margin."""
        verdicts = 1 if self.verdict_fallback_model is None else 2
        return (
            MAX_ROUNDS * self.persona_timeout_s + verdicts * self.verdict_timeout_s + DEBATE_POSTING_MARGIN_S
        )

    def debate_config(self) -> DebateConfig:
        """The models, thinking levels and budgets every debate runs with."""
        return DebateConfig(
            persona_model=self.persona_model,
            verdict_model=self.verdict_model,
            persona_timeout_s=self.persona_timeout_s,
            verdict_timeout_s=self.verdict_timeout_s,
            persona_thinking=self.persona_thinking,
            verdict_thinking=self.verdict_thinking,
            verdict_fallback_model=self.verdict_fallback_model,
        )

    @property
    def custom_discord_api(self) -> bool:
        """Whether Discord is reached through something other than discord.com (a proxy, a fake)."""
        return self.discord_api_base != DEFAULT_DISCORD_API_BASE


def _where(name: str) -> str:
    return f"set {name} in the environment or in .env (see .env.example)"


def _secret_problem(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    if not value:
        return f"{name} is missing"
    if value == TOKEN_PLACEHOLDERS[name]:
        return f"{name} still holds the .env.example placeholder"
    return None


def _secrets(env: Mapping[str, str], *, discord: bool) -> tuple[Secret, Secret]:
    """The Discord token (empty when ``discord`` is False: not needed) and the Gemini key, or one line
    naming each needed one that is missing or still a placeholder."""
    needed = [name for name in TOKEN_PLACEHOLDERS if discord or name != "DISCORD_TOKEN"]
    problems = {name: _secret_problem(env, name) for name in needed}
    wrong = [name for name, problem in problems.items() if problem is not None]
    if wrong:
        said = " and ".join(problem for problem in problems.values() if problem is not None)
        raise SettingsError(f"{said}: {_where(' and '.join(wrong))}")
    token = env["DISCORD_TOKEN"].strip() if discord else ""
    return Secret(token), Secret(env["GEMINI_API_KEY"].strip())


def _url(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name} must be an http:// or https:// URL, got {value!r}: {_where(name)}")
    return value.rstrip("/")


def _redis_url(env: Mapping[str, str]) -> Secret | None:
    """``REDIS_URL``, or one line saying what is wrong with it (its password, if any, left out)."""
    value = env.get("REDIS_URL", "").strip()
    if not value:
        return None
    try:
        parts = urlsplit(value)
        database = parts.path.lstrip("/")
        usable = (
            parts.scheme in ("redis", "rediss")
            and bool(parts.hostname)
            and parts.port != 0
            and (not database or database.isdigit())
        )
    except ValueError:  # a port that is not a number, or out of range
        usable = False
    if not usable:
        shown = "a URL with credentials" if "@" in value else repr(value)
        raise SettingsError(
            f"REDIS_URL must be a redis:// or rediss:// URL such as redis://localhost:6379/0, got {shown}: "
            f"{_where('REDIS_URL')}"
        )
    return Secret(value)


def _number(
    env: Mapping[str, str],
    name: str,
    kind: type[N],
    default: N,
    minimum: N,
    maximum: N | None = None,
    because: str = "",
) -> N:
    """A number from ``name`` (``default`` when unset), finite and within its bounds."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a {kind.__name__} number, got {raw!r}: {_where(name)}") from None
    if not math.isfinite(value):  # float() reads "nan", "inf" and "-inf" as well
        raise SettingsError(f"{name} must be a finite number, got {raw!r}: {_where(name)}")
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {raw!r}: {_where(name)}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name} must be at most {maximum}, got {raw!r}{because}: {_where(name)}")
    return value


def _persona_timeout(env: Mapping[str, str]) -> float:
    """``PERSONA_TIMEOUT_S``, short enough that a whole debate ends inside the interaction's 15 minutes."""
    because = (
        f" (a debate takes up to {LONGEST_DEBATE_FACTOR:g}× it plus {DEBATE_POSTING_MARGIN_S:.0f} s, "
        f"and must end inside the {INTERACTION_LIFETIME_S // 60} minutes Discord keeps an interaction open)"
    )
    return _number(env, "PERSONA_TIMEOUT_S", float, 60.0, 1.0, MAX_PERSONA_TIMEOUT_S, because)


def _models(env: Mapping[str, str]) -> tuple[str, str, tuple[str, ...], str | None]:
    """The persona model, the verdict model, the models moderators may choose from and the verdict's
    fallback model."""
    persona_model = _word(env, "PERSONA_MODEL", DEFAULT_PERSONA_MODEL)
    verdict_model = _word(env, "VERDICT_MODEL", DEFAULT_VERDICT_MODEL)
    allowed = tuple(dict.fromkeys(m.strip() for m in env.get("ALLOWED_MODELS", "").split(",") if m.strip()))
    fallback = env.get("VERDICT_FALLBACK_MODEL", "").strip() or None
    named = {
        "PERSONA_MODEL": (persona_model,),
        "VERDICT_MODEL": (verdict_model,),
        "ALLOWED_MODELS": allowed,
        "VERDICT_FALLBACK_MODEL": (fallback,) if fallback else (),
    }
    for name, models in named.items():
        for model in models:
            if len(model) > MODEL_NAME_MAX_LENGTH:
                raise SettingsError(
                    f"{name} holds a model name of {len(model)} characters; Discord offers choices of at "
                    f"most {MODEL_NAME_MAX_LENGTH}: {_where(name)}"
                )
    allowed = allowed or tuple(dict.fromkeys((persona_model, verdict_model)))
    return persona_model, verdict_model, allowed, fallback


def _optional_int(env: Mapping[str, str], name: str, minimum: int) -> int | None:
    if not env.get(name, "").strip():
        return None
    return _number(env, name, int, minimum, minimum)


def _word(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name, "").strip() or default


def _thinking(env: Mapping[str, str], name: str, default: Thinking) -> Thinking:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    try:
        return Thinking(raw)
    except ValueError:
        levels = ", ".join(level.value for level in Thinking)
        raise SettingsError(f"{name} must be one of {levels}, got {raw!r}: {_where(name)}") from None


def _shards(env: Mapping[str, str]) -> tuple[int | None, tuple[int, ...] | None]:
    count = _optional_int(env, "SHARD_COUNT", 1)
    raw_ids = env.get("SHARD_IDS", "").strip()
    if not raw_ids:
        return count, None
    if count is None:
        raise SettingsError(f"SHARD_IDS needs SHARD_COUNT as well: {_where('SHARD_COUNT')}")
    try:
        ids = tuple(int(part) for part in raw_ids.split(",") if part.strip())
    except ValueError:
        raise SettingsError(f"SHARD_IDS must be a comma list of numbers, got {raw_ids!r}") from None
    if not ids or len(set(ids)) != len(ids) or not all(0 <= shard < count for shard in ids):
        raise SettingsError(f"SHARD_IDS must list distinct shards from 0 to {count - 1}, got {raw_ids!r}")
    return count, ids


def _metrics_port(env: Mapping[str, str]) -> int | None:
    if not env.get("METRICS_PORT", "").strip():
        return None
    return _number(env, "METRICS_PORT", int, 0, 1, 65535)


def settings_from(env: Mapping[str, str], *, discord: bool = True) -> Settings:
    """Build :class:`Settings` from a mapping of environment variables, or raise :class:`SettingsError`.

    ``discord=False`` (the terminal mode) needs no Discord token: it is left empty and never used."""
    # first: on a first run, these are what is missing
    discord_token, gemini_api_key = _secrets(env, discord=discord)
    persona_model, verdict_model, allowed_models, verdict_fallback_model = _models(env)
    log_level = _word(env, "LOG_LEVEL", "INFO").upper()
    if not isinstance(logging.getLevelNamesMapping().get(log_level), int):
        raise SettingsError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}")
    shard_count, shard_ids = _shards(env)
    return Settings(
        discord_token=discord_token,
        gemini_api_key=gemini_api_key,
        discord_api_base=_url(env, "DISCORD_API_BASE") or DEFAULT_DISCORD_API_BASE,
        gemini_base_url=_url(env, "GEMINI_BASE_URL"),
        database_url=_word(env, "DATABASE_URL", DEFAULT_DATABASE_URL),
        redis_url=_redis_url(env),
        persona_model=persona_model,
        verdict_model=verdict_model,
        allowed_models=allowed_models,
        persona_timeout_s=_persona_timeout(env),
        persona_thinking=_thinking(env, "PERSONA_THINKING", DEFAULT_PERSONA_THINKING),
        verdict_thinking=_thinking(env, "VERDICT_THINKING", DEFAULT_VERDICT_THINKING),
        verdict_fallback_model=verdict_fallback_model,
        gemini_max_concurrency=_number(env, "GEMINI_MAX_CONCURRENCY", int, 32, 1),
        debate_cooldown_s=_number(env, "DEBATE_COOLDOWN_S", int, DEFAULT_DEBATE_COOLDOWN_S, 0),
        max_debates_per_guild=_number(env, "MAX_DEBATES_PER_GUILD", int, 25, 1),
        daily_token_budget=_number(env, "DAILY_TOKEN_BUDGET", int, DEFAULT_DAILY_TOKEN_BUDGET, 0),
        shutdown_grace_s=_number(env, "SHUTDOWN_GRACE_S", float, 30.0, 0.0),
        dev_guild_id=_optional_int(env, "DEV_GUILD_ID", 1),
        shard_count=shard_count,
        shard_ids=shard_ids,
        log_level=log_level,
        metrics_port=_metrics_port(env),
    )


def load_settings(*, discord: bool = True) -> Settings:
    """Read ``.env`` (searched from the working directory up; the environment wins) and validate."""
    load_dotenv(find_dotenv(usecwd=True), override=False)
    return settings_from(os.environ, discord=discord)
