"""``python -m bot``: load the configuration, build the dependencies, run Parley until stopped."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import aiohttp
import discord

from bot.client import ParleyBot
from bot.gemini import GeminiLLM
from bot.settings import Settings, SettingsError, load_settings

log = logging.getLogger("bot")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


async def run(settings: Settings) -> None:
    """Build the dependencies inside the running loop, run the bot, close everything on the way out."""
    llm = GeminiLLM(
        settings.gemini_api_key.reveal(),
        base_url=settings.gemini_base_url,
        max_concurrency=settings.gemini_max_concurrency,
    )
    try:
        async with ParleyBot(settings=settings, llm=llm) as bot:
            loop = asyncio.get_running_loop()
            for stop in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(stop, lambda: asyncio.ensure_future(bot.close()))
            await bot.start(settings.discord_token.reveal())
    finally:
        await llm.aclose()


def main() -> None:
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"parley: {error}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log_level)
    try:
        asyncio.run(run(settings))
    except discord.LoginFailure:
        print("parley: Discord rejected DISCORD_TOKEN (check the bot token in .env)", file=sys.stderr)
        sys.exit(1)
    except discord.PrivilegedIntentsRequired:
        print("parley: Discord refused the requested gateway intents", file=sys.stderr)
        sys.exit(1)
    except aiohttp.ClientConnectorError as error:
        print(
            f"parley: cannot reach Discord at {settings.discord_api_base} ({error.os_error})", file=sys.stderr
        )
        sys.exit(1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
