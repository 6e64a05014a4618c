"""Point the real discord.py at a running ``FakeDiscord`` (and restore it afterwards)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from .models import FakeGuild
from .server import FakeDiscord

if TYPE_CHECKING:
    import discord

ClientT = TypeVar("ClientT", bound="discord.Client")


@contextlib.contextmanager
def discord_py_pointed_at(fake: FakeDiscord) -> Iterator[None]:
    """Patch ``Route.BASE`` (REST, webhooks, callbacks) and ``DEFAULT_GATEWAY``; restore both on exit."""
    import discord.gateway
    import discord.http
    import yarl

    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


def guilds_client(**options: Any) -> discord.Client:
    """A discord.py client with the guilds intent only and a short wait for guilds at start-up."""
    import discord

    intents = discord.Intents.none()
    intents.guilds = True
    return discord.Client(intents=intents, guild_ready_timeout=0.05, **options)


def the_guild(fake: FakeDiscord) -> FakeGuild:
    """The fake's only guild (the first one added)."""
    return next(iter(fake.guilds.values()))


@contextlib.asynccontextmanager
async def running_client(
    fake: FakeDiscord, client: ClientT, *, ready_timeout: float = 10.0
) -> AsyncIterator[ClientT]:
    """Start ``client`` against ``fake`` (patched), wait until discord.py is ready, close it on exit."""
    with discord_py_pointed_at(fake):
        task = asyncio.create_task(client.start(fake.token))
        try:
            deadline = time.monotonic() + ready_timeout
            while not client.is_ready():
                if task.done():
                    task.result()  # re-raise LoginFailure, PrivilegedIntentsRequired, ...
                    raise RuntimeError("discord.py client stopped before becoming ready")
                if time.monotonic() > deadline:
                    raise TimeoutError("discord.py client did not become ready")
                await asyncio.sleep(0.01)
            yield client
        finally:
            await client.close()
            with contextlib.suppress(Exception):  # a start() failure was already raised above
                await asyncio.wait_for(task, 5.0)  # cancels the task on timeout
