"""``/parley status``: how this process is doing, for a server's moderators."""

from __future__ import annotations

import time
from importlib import metadata

from bot.client import ParleyBot
from bot.core.render import Embed, status_embed


def parley_version() -> str:
    """The installed Parley's version, or ``unknown`` when it runs from a tree that was never installed."""
    try:
        return metadata.version("parley")
    except metadata.PackageNotFoundError:
        return "unknown"


async def process_status(bot: ParleyBot, guild_id: int) -> Embed:
    """Parley's version, uptime, this process's shards and their gateway latency, the debates it runs now,
    and ``guild_id``'s tokens today against its budget."""
    limits = await bot.admission.limits(guild_id)
    used = await bot.admission.tokens_today(guild_id)
    shard_count = bot.shard_count or 1
    shard_ids = sorted(bot.shard_ids) if bot.shard_ids is not None else list(range(shard_count))
    return status_embed(
        parley_version(),
        time.monotonic() - bot.started_at,
        shard_ids,
        shard_count,
        sorted(bot.latencies),
        bot.debates.running_count,
        used,
        limits.daily_token_budget,
    )
