"""The in-process read cache: per server, expiring, and never left holding what a write replaced.

A read that began before a write can finish after it. So each server's entry carries a version: a read
notes the version before it asks the database and keeps its result only if no write has begun since, and
a write bumps the version while it holds the server's lock, then stores its own result once committed,
unless a later write has begun in the meantime (that one stores the newer state).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass(slots=True)
class _Slot(Generic[V]):
    version: int = 0
    expires: float = 0.0
    value: V | None = None
    stored_at: int = 0  # the version under which ``value`` was stored


class VersionedCache(Generic[V]):
    """Values per server, served for ``ttl_s`` seconds, or until :meth:`forget` says another process
    changed them."""

    def __init__(self, ttl_s: float, clock: Callable[[], float]) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._slots: dict[int, _Slot[V]] = {}

    def _slot(self, guild_id: int) -> _Slot[V]:
        return self._slots.setdefault(guild_id, _Slot())

    def get(self, guild_id: int) -> V | None:
        """The cached value, unless there is none or it has expired."""
        slot = self._slots.get(guild_id)
        return slot.value if slot is not None and slot.expires > self._clock() else None

    def version(self, guild_id: int) -> int:
        """What a read notes before it asks the database, to hand to :meth:`offer` afterwards."""
        return self._slot(guild_id).version

    def offer(self, guild_id: int, version: int, value: V) -> V:
        """Keep a read's ``value`` if no write has begun since ``version``; returns ``value`` either way."""
        slot = self._slot(guild_id)
        if slot.version == version:
            self._store(slot, value)
        return value

    def begin_write(self, guild_id: int) -> int:
        """Call while holding the server's lock: reads in flight will not be kept. Returns a ticket."""
        slot = self._slot(guild_id)
        slot.version += 1
        return slot.version

    def end_write(self, guild_id: int, ticket: int, value: V) -> V:
        """Call once the write has committed: keep its ``value``, unless a later write has begun (that
        one stores the newer state); then drop what is cached if it predates this write's commit."""
        slot = self._slot(guild_id)
        if slot.version == ticket:
            slot.version += 1  # reads that began before the commit may have seen the state before it
            self._store(slot, value)
        elif slot.stored_at <= ticket:
            slot.expires, slot.value = 0.0, None
        return value

    def forget(self, guild_id: int | None = None) -> None:
        """Drop what is cached of ``guild_id`` (None: of every server) because another process changed
        it: reads in flight are not kept either."""
        for slot in self._slots.values() if guild_id is None else [self._slot(guild_id)]:
            slot.version += 1
            slot.expires, slot.value = 0.0, None

    def _store(self, slot: _Slot[V], value: V) -> None:
        slot.expires, slot.value, slot.stored_at = self._clock() + self._ttl_s, value, slot.version
