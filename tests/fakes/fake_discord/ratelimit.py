"""Per-route buckets and the global limit, answering with Discord's rate-limit headers."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

#: Bucket name → (requests, window seconds). Names are what routes declare in the route table.
DEFAULT_BUCKETS: dict[str, tuple[int, float]] = {
    "messages": (5, 5.0),
    "message_edit": (5, 5.0),
    "message_delete": (5, 1.0),
    "message_read": (50, 1.0),
    "threads": (10, 10.0),
    "webhook": (5, 2.0),
    "interaction_callback": (5, 5.0),
    "commands": (20, 10.0),
    "default": (50, 1.0),
}
DEFAULT_GLOBAL_LIMIT: tuple[int, float] = (50, 1.0)


@dataclass
class _Window:
    started: float
    count: int = 0


@dataclass
class RateDecision:
    """The verdict for one request: headers always, and a 429 body when ``limited``."""

    headers: dict[str, str]
    limited: bool = False
    body: dict[str, object] | None = None


def _fmt(seconds: float) -> str:
    return f"{max(seconds, 0.0):.3f}"


class RateLimiter:
    """Fixed windows per (bucket, major parameter), plus one global window for bot-token requests."""

    def __init__(
        self,
        *,
        enabled: bool,
        buckets: Mapping[str, tuple[int, float]] | None = None,
        global_limit: tuple[int, float] = DEFAULT_GLOBAL_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self.buckets = {**DEFAULT_BUCKETS, **(buckets or {})}
        self.global_limit = global_limit
        self._clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}
        self._global: _Window | None = None

    @staticmethod
    def bucket_hash(name: str) -> str:
        """A stable opaque id like the ``X-RateLimit-Bucket`` values Discord sends."""
        return hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()

    def _window(self, key: tuple[str, str], period: float, now: float) -> _Window:
        win = self._windows.get(key)
        if win is None or now >= win.started + period:
            win = _Window(started=now)
            self._windows[key] = win
        return win

    def headers_for(self, bucket: str, major: str) -> dict[str, str]:
        """Rate-limit headers for a bucket without counting a request (unknown routes, auth failures)."""
        now = self._clock()
        limit, period = self.buckets.get(bucket, self.buckets["default"])
        win = self._window((bucket, major), period, now)
        reset_after = win.started + period - now
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(limit - win.count, 1 if not self.enabled else 0)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": _fmt(reset_after),
            "X-RateLimit-Bucket": self.bucket_hash(bucket),
        }

    def check(self, bucket: str, major: str, *, global_applies: bool) -> RateDecision:
        """Count one request against its bucket (and the global limit) and decide."""
        now = self._clock()
        limit, period = self.buckets.get(bucket, self.buckets["default"])
        win = self._window((bucket, major), period, now)
        reset_after = win.started + period - now
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": _fmt(reset_after),
            "X-RateLimit-Bucket": self.bucket_hash(bucket),
        }
        if self.enabled and global_applies:
            g_limit, g_period = self.global_limit
            if self._global is None or now >= self._global.started + g_period:
                self._global = _Window(started=now)
            if self._global.count >= g_limit:
                retry = max(self._global.started + g_period - now, 0.001)
                return RateDecision(
                    headers={
                        "X-RateLimit-Global": "true",
                        "X-RateLimit-Scope": "global",
                        "Retry-After": str(math.ceil(retry)),
                    },
                    limited=True,
                    body={
                        "message": "You are being rate limited.",
                        "retry_after": round(retry, 3),
                        "global": True,
                    },
                )
        if self.enabled and win.count >= limit:
            retry = max(reset_after, 0.001)
            headers.update(
                {
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Scope": "user",
                    "Retry-After": str(math.ceil(retry)),
                }
            )
            return RateDecision(
                headers=headers,
                limited=True,
                body={
                    "message": "You are being rate limited.",
                    "retry_after": round(retry, 3),
                    "global": False,
                },
            )
        if self.enabled and global_applies and self._global is not None:
            self._global.count += 1
        win.count += 1
        remaining = limit - win.count
        if not self.enabled:
            remaining = max(remaining, 1)
        headers["X-RateLimit-Remaining"] = str(max(remaining, 0))
        return RateDecision(headers=headers)
