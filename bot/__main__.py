"""``python -m bot``: load the configuration, build the dependencies, run Parley until stopped."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import aiohttp
import discord
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.client import ParleyBot
from bot.gemini import GeminiLLM, GeminiSetupError
from bot.logs import configure_logging
from bot.settings import Settings, SettingsError, load_settings
from bot.store import Store

log = logging.getLogger("bot")


class StartupError(Exception):
    """A problem that stops start-up, worded as one line for the person running the bot."""


async def open_store(url: str) -> Store:
    try:
        return await Store.open(url)
    except (OSError, SQLAlchemyError) as error:
        shown = make_url(url).render_as_string(hide_password=True)
        raise StartupError(
            f"cannot open the database at {shown} ({type(error).__name__}: {error})"
        ) from error


async def run(settings: Settings) -> None:
    """Build the dependencies inside the running loop, run the bot, close everything on the way out."""
    store = await open_store(settings.database_url)
    llm = GeminiLLM(
        settings.gemini_api_key.reveal(),
        base_url=settings.gemini_base_url,
        max_concurrency=settings.gemini_max_concurrency,
        longest_call_s=settings.verdict_timeout_s,
    )
    try:
        await llm.check_models(
            {
                "PERSONA_MODEL": [settings.persona_model],
                "VERDICT_MODEL": [settings.verdict_model],
                "ALLOWED_MODELS": list(settings.allowed_models),
            }
        )
        async with ParleyBot(settings=settings, llm=llm, store=store) as bot:
            loop = asyncio.get_running_loop()
            for stop in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(stop, lambda: asyncio.ensure_future(bot.shutdown()))
            await bot.start(settings.discord_token.reveal())
    finally:
        await llm.aclose()
        await store.close()


def main() -> None:
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"parley: {error}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log_level, [settings.discord_token.reveal(), settings.gemini_api_key.reveal()])
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
    except (StartupError, GeminiSetupError) as error:
        print(f"parley: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
