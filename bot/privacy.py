"""Privacy: how long debates are kept, forgetting a member's debates, and forgetting a server Parley left.

The daily purge runs in every process sharing the database (deleting is idempotent), for every server
that set a retention, including servers this process does not serve.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from bot.admission import Admission
from bot.core.limits import utc_now
from bot.core.panel import GuildSettings
from bot.core.records import Forgotten, Storage, retention_cutoff

log = logging.getLogger(__name__)

PURGE_EVERY_S = 24 * 3600.0
"""How often debates past their server's retention are deleted."""
INTERRUPT_WAIT_S = 10.0
"""How long a server's running debates get to wind down before its data is deleted."""


class PrivacyService:
    """Retention settings and the daily purge, ``/parley forget``, and a server's removal."""

    def __init__(
        self, store: Storage, admission: Admission, *, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._store = store
        self._admission = admission
        self._clock = clock

    async def set_retention(self, guild_id: int, actor_id: int, days: int) -> GuildSettings:
        """Keep the server's debates ``days`` days (0: keep them), audited; applies at the next purge."""
        return await self._store.set_retention(guild_id, actor_id, days or None)

    async def forget_member(self, guild_id: int, actor_id: int, member_id: int) -> Forgotten:
        """Delete the debates ``member_id`` started here and their votes on this server's debates."""
        forgotten = await self._store.forget_member(guild_id, actor_id, member_id)
        log.info(
            "forgot %d debates and %d votes of a member in guild %s (%d running kept)",
            forgotten.debates,
            forgotten.votes,
            guild_id,
            forgotten.running,
        )
        return forgotten

    async def guild_removed(self, guild_id: int) -> int:
        """Parley left the server: interrupt its running debates, then delete everything of it."""
        tasks = [
            ticket.task
            for ticket in self._admission.tickets(guild_id)
            if ticket.task is not None and not ticket.task.done()
        ]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=INTERRUPT_WAIT_S)
        deleted = await self._store.forget_guild(guild_id)
        self._admission.forget_guild(guild_id)
        log.info("left guild %s: deleted its panel, settings, audit log and %d debates", guild_id, deleted)
        return deleted

    async def purge_expired(self) -> int:
        """Delete every server's debates past its retention; returns how many."""
        now = self._clock()
        deleted = 0
        for guild_id, days in (await self._store.retention_days()).items():
            deleted += await self._store.delete_debates_started_before(guild_id, retention_cutoff(now, days))
        return deleted

    async def purge_periodically(self, every_s: float = PURGE_EVERY_S) -> None:
        """Purge now, then every ``every_s`` seconds, until cancelled; a failed purge is logged and retried
        at the next one."""
        while True:
            try:
                deleted = await self.purge_expired()
            except Exception:
                log.exception("the retention purge failed; retrying in %g s", every_s)
            else:
                level = logging.INFO if deleted else logging.DEBUG
                log.log(level, "the retention purge deleted %d debates", deleted)
            await asyncio.sleep(every_s)


async def stop_task(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` (if any) and wait for it to end."""
    if task is None:
        return
    task.cancel()
    await asyncio.wait([task])
