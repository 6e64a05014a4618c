"""``python -m bot``: read the command line, then the configuration; build the dependencies, run Parley
until it is stopped, and end every way it can end with one line and a meaningful exit code.

The command line is read before anything else is imported, so that ``--help`` works without the
dependencies installed and touches neither the network nor the database.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import discord

    from bot.client import ParleyBot
    from bot.core.throttles import ConcurrencyCap
    from bot.settings import Settings
    from bot.shared_limits import SharedLimits
    from bot.store import Store
    from bot.terminal import Ask

log = logging.getLogger("bot")

STARTUP_TIMEOUT_S = 30.0
"""Log-in, set-up (gateway URL, application, command sync) and the first shard's READY must fit in this."""
STOP_NOW_WAIT_S = 5.0
"""After a second stop signal, how long interrupted debates get to leave their note before the bot closes."""

EXIT_STOPPED = 0
EXIT_FAILED = 1
EXIT_CONFIGURATION = 2

DESCRIPTION = """\
Parley, a Discord bot for structured debates: /debate asks several Gemini personas at once, posts each
answer as it lands, then a verdict. Without a command, runs the bot until Ctrl-C or SIGTERM."""

ASK_DESCRIPTION = """\
Run one debate in the terminal, without Discord: every persona at once, each answer as it lands, then
the verdict as it is written and the timing line."""

ASK_EPILOG = """\
configuration:
  Needs only GEMINI_API_KEY (environment or .env); GEMINI_BASE_URL, the model settings and, for --guild,
  DATABASE_URL are read as the bot reads them.

exit codes:
  0  the verdict was written
  1  the debate ended without a verdict (every persona failed, or the judge did)
  2  the configuration or the question is refused (one line says why)"""

EPILOG = """\
configuration:
  Read from the environment, or from .env in the working directory (the environment wins).
  Required: DISCORD_TOKEN (the bot token) and GEMINI_API_KEY (a Gemini API key).
  Everything else is optional: .env.example lists every setting, README.md explains each.

stopping:
  Ctrl-C or SIGTERM: no new debates; running ones get SHUTDOWN_GRACE_S to finish, then exit 0.
  A second Ctrl-C or SIGTERM interrupts them at once (each gets a note in its thread).

exit codes:
  0  stopped on request
  1  could not start or keep running (Discord or the database unreachable, or failing)
  2  the configuration is refused (a missing or invalid setting, token, key or model); fix it first"""


def argument_parser() -> argparse.ArgumentParser:
    """The command line: ``run`` (the default) runs the bot; further commands (``ask``) go beside it."""
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        usage="%(prog)s [-h] [command]",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", title="commands", metavar="command")
    commands.add_parser(
        "run",
        help="run the bot (the default)",
        description="Run Parley on Discord until Ctrl-C or SIGTERM.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_ask_parser(commands)
    return parser


def add_ask_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``ask "question" [--preset NAME] [--rounds N] [--guild ID] [--json]``."""
    from bot.core.personas import PRESETS  # dependency-free, like this module until the command runs

    ask = commands.add_parser(
        "ask",
        help="run one debate in the terminal (needs only GEMINI_API_KEY)",
        description=ASK_DESCRIPTION,
        epilog=ASK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ask.add_argument("question", help="what the panel should debate")
    panel = ask.add_mutually_exclusive_group()
    panel.add_argument("--preset", choices=sorted(PRESETS), help="debate with a built-in panel")
    panel.add_argument(
        "--guild", type=int, metavar="ID", help="debate with that server's panel, stored in DATABASE_URL"
    )
    ask.add_argument("--rounds", type=int, default=1, metavar="N", help="rounds of debate (default 1)")
    ask.add_argument("--json", action="store_true", help="print one JSON document instead")


class StartupError(Exception):
    """How start-up ended early: one line for the person running the bot, and the exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def discord_location(settings: Settings) -> str:
    """Where Discord is reached, naming ``DISCORD_API_BASE`` when it is set to something of one's own."""
    if settings.custom_discord_api:
        return f"DISCORD_API_BASE={settings.discord_api_base}"
    return settings.discord_api_base


class GatewayRetries(logging.Filter):
    """discord.py logs every failed gateway connection with a traceback, then retries it: each attempt
    becomes one line, and the last error is kept for the start-up's own message."""

    def __init__(self) -> None:
        super().__init__()
        self.last_error: BaseException | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and str(record.msg).startswith("Failed to connect for shard_id"):
            self.last_error = error
            record.msg, record.args = f"{record.getMessage()} ({describe(error)})", ()
            record.exc_info = record.exc_text = None
        return True


def describe(error: BaseException) -> str:
    """``Type: first line of the message``, or just the type when there is no message."""
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Stopper:
    """What SIGINT and SIGTERM do: before Discord is connected, cancel the start-up; after, the first one
    stops gracefully (``ParleyBot.shutdown``) and the second interrupts the running debates at once."""

    def __init__(self, main: asyncio.Task[object]) -> None:
        self.main = main
        self.bot: ParleyBot | None = None
        self.connected = False
        self.signals: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def stopped_while_starting(self) -> bool:
        return bool(self.signals) and not self.connected

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for stop in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(stop, self.received, stop)

    def received(self, stop: signal.Signals) -> None:
        self.signals.append(stop.name)
        if not self.connected or self.bot is None:
            if len(self.signals) == 1:
                self.main.cancel()
        elif len(self.signals) == 1:
            log.warning(
                "%s: stopping; no new debates, running ones get up to %g s to finish "
                "(Ctrl-C or SIGTERM again stops at once)",
                stop.name,
                self.bot.settings.shutdown_grace_s,
            )
            self._spawn(self.bot.shutdown())
        elif len(self.signals) == 2:
            self._spawn(self._stop_now(self.bot, stop.name))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _stop_now(bot: ParleyBot, name: str) -> None:
        """Interrupt every running debate now (each still leaves its note, briefly), then close."""
        await bot.interrupt_running(STOP_NOW_WAIT_S, f"{name} again: stopping now")
        await bot.close()


async def open_store(url: str) -> Store:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from bot.store import Store

    try:
        return await Store.open(url)
    except (OSError, SQLAlchemyError) as error:
        shown = make_url(url).render_as_string(hide_password=True)
        raise StartupError(f"cannot open the database at {shown} ({describe(error)})") from error


def models_to_check(settings: Settings) -> dict[str, list[str]]:
    """Every configured model under the variable that sets it (``check_models`` names a model listed
    twice, as in the default ``ALLOWED_MODELS``, under the first)."""
    models = {
        "PERSONA_MODEL": [settings.persona_model],
        "VERDICT_MODEL": [settings.verdict_model],
        "ALLOWED_MODELS": list(settings.allowed_models),
    }
    if settings.verdict_fallback_model is not None:
        models["VERDICT_FALLBACK_MODEL"] = [settings.verdict_fallback_model]
    return models


async def connect(bot: ParleyBot, settings: Settings, retries: GatewayRetries) -> asyncio.Task[None]:
    """Log in, set up and wait for the first shard's READY, all within ``STARTUP_TIMEOUT_S``; returns the
    running session (it ends when the bot closes). Raises :class:`StartupError` when Discord is silent."""
    from discord.gateway import DiscordWebSocket

    reached_gateway = False

    async def session() -> None:
        nonlocal reached_gateway
        await bot.login(settings.discord_token.reveal())
        reached_gateway = True
        await bot.connect()

    log.info("connecting to Discord (%s)", discord_location(settings))
    connected = asyncio.create_task(bot.wait_for("connect"))
    running = asyncio.create_task(session(), name="discord")
    try:
        done, _ = await asyncio.wait(
            {running, connected}, timeout=STARTUP_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
    except BaseException:  # cancelled: a stop signal
        connected.cancel()
        await cancel_and_wait(running)
        raise
    connected.cancel()
    if running in done or connected in done:
        if running.done():
            running.result()  # a login failure: raised for main() to word
        return running
    await cancel_and_wait(running)
    if not reached_gateway:
        raise StartupError(
            f"no answer from Discord within {STARTUP_TIMEOUT_S:g} s ({discord_location(settings)})"
        )
    gateway = f" at {DiscordWebSocket.DEFAULT_GATEWAY}" if settings.custom_discord_api else ""
    why = describe(retries.last_error) if retries.last_error is not None else "no answer"
    raise StartupError(f"cannot connect to Discord's gateway{gateway} within {STARTUP_TIMEOUT_S:g} s ({why})")


async def open_shared_limits(settings: Settings) -> SharedLimits | None:
    """The limits shared through ``REDIS_URL``, started (a Redis that does not answer only makes them per
    process for now), or ``None`` without it."""
    from bot.shared_limits import SharedLimits

    if settings.redis_url is None:
        return None
    shared = SharedLimits(settings.redis_url.reveal())
    await shared.start()
    return shared


def gemini_cap(shared: SharedLimits | None, settings: Settings) -> ConcurrencyCap | None:
    """The Gemini cap every process using the key holds together, or ``None`` (per process)."""
    if shared is None:
        return None
    key = settings.gemini_api_key.reveal()
    return shared.concurrency_cap(key, settings.gemini_max_concurrency, settings.verdict_timeout_s)


async def cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait until it has ended; how it ended is dropped, a cancellation of ours is not."""
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()


async def run(settings: Settings) -> None:
    """Build the dependencies inside the running loop, run the bot, close everything on the way out."""
    from bot.client import ParleyBot
    from bot.gemini import GeminiLLM
    from bot.metrics import Metrics
    from bot.ratelimits import GLOBAL_RATE_PER_S

    current = asyncio.current_task()
    assert current is not None
    stopper = Stopper(current)
    stopper.install()
    retries = GatewayRetries()
    logging.getLogger("discord.shard").addFilter(retries)
    try:
        store = await open_store(settings.database_url)
        shared = await open_shared_limits(settings)
        metrics = Metrics()
        llm = GeminiLLM(
            settings.gemini_api_key.reveal(),
            base_url=settings.gemini_base_url,
            max_concurrency=settings.gemini_max_concurrency,
            longest_call_s=settings.verdict_timeout_s,
            cap=gemini_cap(shared, settings),
            metrics=metrics,
        )
        pacer = (
            None
            if shared is None
            else shared.global_pacer(settings.discord_token.reveal(), GLOBAL_RATE_PER_S)
        )
        try:
            await llm.check_models(models_to_check(settings))
            async with ParleyBot(
                settings=settings, llm=llm, store=store, global_pacer=pacer, metrics=metrics
            ) as bot:
                stopper.bot = bot
                session = await connect(bot, settings, retries)
                stopper.connected = True
                await session
        finally:
            await llm.aclose()
            if shared is not None:
                await shared.aclose()
            await store.close()
    except asyncio.CancelledError:
        if not stopper.stopped_while_starting:
            raise
        current.uncancel()
        raise StartupError(
            f"stopped ({stopper.signals[0]}) before connecting to Discord", EXIT_STOPPED
        ) from None


def explain(error: BaseException, settings: Settings) -> StartupError | None:
    """The one line (and exit code) for an error that ends the bot for a reason outside the program."""
    import aiohttp
    import discord

    from bot.gemini import GeminiSetupError
    from bot.metrics import MetricsPortUnavailable

    where = discord_location(settings)
    if isinstance(error, StartupError):
        return error
    if isinstance(error, MetricsPortUnavailable):
        return StartupError(str(error), EXIT_CONFIGURATION)
    if isinstance(error, GeminiSetupError):
        return StartupError(str(error), EXIT_CONFIGURATION)
    if isinstance(error, discord.LoginFailure):
        return StartupError("Discord rejected DISCORD_TOKEN (check the bot token)", EXIT_CONFIGURATION)
    if isinstance(error, discord.PrivilegedIntentsRequired):
        return StartupError("Discord refused the requested gateway intents", EXIT_CONFIGURATION)
    if isinstance(error, discord.RateLimited):
        return StartupError(
            f"Discord asks Parley to wait {error.retry_after:.0f} s; try again later ({where})"
        )
    if isinstance(error, discord.HTTPException):
        return StartupError(_http_failure(error, settings))
    if isinstance(error, discord.ConnectionClosed):
        return StartupError(
            f"Discord closed the gateway connection ({error.code}: {error.reason or 'no reason'})"
        )
    if isinstance(error, discord.GatewayNotFound):
        return StartupError(f"Discord gave no gateway URL ({where})")
    if isinstance(error, aiohttp.ClientConnectorError):
        return StartupError(f"cannot reach Discord: {error.os_error} ({where})")
    if isinstance(error, aiohttp.ClientError):
        return StartupError(f"lost the connection to Discord: {describe(error)} ({where})")
    return None


def _http_failure(error: discord.HTTPException, settings: Settings) -> str:
    import aiohttp

    said = f"Discord answered {error.status}"
    if isinstance(error.response, aiohttp.ClientResponse):
        response = error.response
        said += (f" {response.reason}" if response.reason else "") + f" to {response.method} {response.url}"
    if error.status == 429:
        # discord.py waits out Discord's own 429s and raises only for one without Discord's ``Via`` header:
        # Cloudflare's ban of an IP address that made too many invalid requests
        # (https://discord.com/developers/docs/topics/rate-limits#invalid-request-limit-aka-cloudflare-bans).
        return f"{said}: this IP address is probably banned for a while by Cloudflare; try again later"
    if error.status == 404 and settings.custom_discord_api:
        return (
            f"{said}; check DISCORD_API_BASE (it includes the API version, like https://discord.com/api/v10)"
        )
    if error.code and error.text:
        said += f" (error {error.code}: {error.text.splitlines()[0][:200]})"
    if error.status >= 500:
        return f"{said}: Discord is having trouble; try again later"
    return f"{said} ({discord_location(settings)})"


def main(argv: Sequence[str] | None = None) -> None:
    arguments = argument_parser().parse_args(argv)
    if arguments.command == "ask":
        sys.exit(run_ask(arguments))
    assert arguments.command in (None, "run")
    # Until the event loop takes the signals over, SIGTERM interrupts like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        sys.exit(run_bot())
    except KeyboardInterrupt:
        print("parley: stopped before connecting to Discord", file=sys.stderr)
        sys.exit(EXIT_STOPPED)


def run_bot() -> int:
    """Run the bot from the environment; returns the exit code, having said in one line why it ended."""
    from bot.logs import RedactingFilter, configure_logging
    from bot.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"parley: {error}", file=sys.stderr)
        return EXIT_CONFIGURATION
    secrets = [settings.discord_token.reveal(), settings.gemini_api_key.reveal()]
    configure_logging(settings.log_level, secrets)
    try:
        asyncio.run(run(settings))
    except Exception as error:
        ending = explain(error, settings)
        if ending is None:
            raise
        print(RedactingFilter(secrets).redact(f"parley: {ending}"), file=sys.stderr)
        return ending.exit_code
    return EXIT_STOPPED


def run_ask(arguments: argparse.Namespace) -> int:
    """``python -m bot ask``: one debate in the terminal; returns the exit code."""
    from bot.core.validation import Invalid
    from bot.logs import configure_logging
    from bot.settings import SettingsError, load_settings
    from bot.terminal import Ask

    try:
        settings = load_settings(discord=False)
    except SettingsError as error:
        print(f"parley: {error}", file=sys.stderr)
        return EXIT_CONFIGURATION
    configure_logging("WARNING", [settings.gemini_api_key.reveal()])  # stdout holds the debate alone
    ask = Ask(arguments.question, arguments.preset, arguments.rounds, arguments.guild, arguments.json)
    try:
        return asyncio.run(ask_in_terminal(ask, settings))
    except Invalid as error:
        print(f"parley: {' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_CONFIGURATION
    except StartupError as error:
        print(f"parley: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("parley: stopped", file=sys.stderr)
        return EXIT_FAILED


async def ask_in_terminal(ask: Ask, settings: Settings) -> int:
    """Check the question and the models, load the panel, then run the debate in the terminal."""
    from rich.console import Console

    from bot.core.validation import check_question, check_rounds
    from bot.gemini import GeminiLLM, GeminiSetupError
    from bot.terminal import choose_panel, run_in_terminal

    check_question(ask.question)  # refused before any network or database
    check_rounds(ask.rounds)
    store = await open_store(settings.database_url) if ask.guild_id is not None else None
    try:
        panel = await choose_panel(ask, store)
    finally:
        if store is not None:
            await store.close()

    shared = await open_shared_limits(settings)
    llm = GeminiLLM(
        settings.gemini_api_key.reveal(),
        base_url=settings.gemini_base_url,
        max_concurrency=settings.gemini_max_concurrency,
        longest_call_s=settings.verdict_timeout_s,
        cap=gemini_cap(shared, settings),
    )
    try:
        try:
            await llm.check_models(models_to_check(settings))
        except GeminiSetupError as error:
            raise StartupError(str(error), EXIT_CONFIGURATION) from None
        return await run_in_terminal(ask, panel, settings.debate_config(), llm, Console(soft_wrap=True))
    finally:
        await llm.aclose()
        if shared is not None:
            await shared.aclose()


if __name__ == "__main__":
    main()
