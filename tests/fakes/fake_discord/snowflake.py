"""Snowflake ids and timestamps shaped like Discord's."""

from __future__ import annotations

import datetime as dt
import time

DISCORD_EPOCH_MS = 1_420_070_400_000


class SnowflakeGenerator:
    """Strictly increasing snowflakes: ``(ms since 2015) << 22 | worker << 17 | process << 12 | increment``.

    Ids are unique per generator.
    """

    def __init__(self, worker_id: int = 1, process_id: int = 0) -> None:
        self._worker_id = worker_id & 0x1F
        self._process_id = process_id & 0x1F
        self._last = 0

    def next(self, *, at_ms: int | None = None) -> int:
        """Return a new id for the current wall-clock time (or ``at_ms``), never repeating one."""
        ms = (int(time.time() * 1000) if at_ms is None else at_ms) - DISCORD_EPOCH_MS
        increment = 0
        candidate = (ms << 22) | (self._worker_id << 17) | (self._process_id << 12) | increment
        if candidate <= self._last:
            candidate = self._last + 1
        self._last = candidate
        return candidate

    def next_on_shard(self, shard_id: int, shard_count: int) -> int:
        """Return a new id whose shard ``(id >> 22) % shard_count`` equals ``shard_id``."""
        ms = max(int(time.time() * 1000), ((self._last >> 22) + DISCORD_EPOCH_MS) + 1)
        while ((ms - DISCORD_EPOCH_MS) % shard_count) != shard_id:
            ms += 1
        return self.next(at_ms=ms)


def snowflake_time(snowflake: int) -> dt.datetime:
    """Wall-clock creation time encoded in a snowflake."""
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def iso_now() -> str:
    """Current UTC time in Discord's ISO-8601 form (``+00:00`` offset)."""
    return dt.datetime.now(dt.UTC).isoformat()


def iso_at(when: dt.datetime) -> str:
    """Render a datetime in Discord's ISO-8601 form."""
    return when.astimezone(dt.UTC).isoformat()


def shard_for(guild_id: int, shard_count: int) -> int:
    """The shard that receives a guild's events, as Discord routes them."""
    return (guild_id >> 22) % shard_count
