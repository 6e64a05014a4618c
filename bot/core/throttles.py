"""The two limits Parley keeps on what it sends out, as protocols, with their in-process forms.

A :class:`GlobalPacer` spaces requests under Discord's global limit; a :class:`ConcurrencyCap` bounds the
Gemini calls in flight. In one process the in-process forms are the whole story; processes sharing a
Redis keep them together through the shared forms (``bot/shared_limits.py``), which fall back to these.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Protocol


class GlobalPacer(Protocol):
    """Spaces the requests sent under one rate."""

    async def depart(self) -> None:
        """Wait until the next request may leave; it leaves when this returns."""


class ConcurrencyCap(Protocol):
    """Bounds how many calls are in flight at once."""

    def slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold one of the slots while inside; waits, first come first served, for one to be free."""


class LocalPacer:
    """This process's requests, ``1 / rate`` apart, spaced from actual departures.

    Not from a schedule: a busy event loop wakes sleepers late, and scheduled turns that were missed
    would then leave together, over the limit within one window.
    """

    def __init__(self, rate_per_s: float) -> None:
        self._interval = 1.0 / rate_per_s
        self._last = float("-inf")
        self._turn = asyncio.Lock()

    async def depart(self) -> None:
        loop = asyncio.get_running_loop()
        async with self._turn:
            wait = self._last + self._interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last = loop.time()


class LocalCap:
    """At most ``size`` calls of this process in flight."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._semaphore = asyncio.Semaphore(size)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._semaphore:
            yield
