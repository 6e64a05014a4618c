"""How ``python -m bot`` starts and stops: usage, every way the start-up can fail, and stop signals.

Each test runs ``python -m bot`` in its own process configured only by environment variables, as a user
would, and reads what it printed and how it exited.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from bot.__main__ import STARTUP_TIMEOUT_S, STOP_NOW_WAIT_S
from bot.core.records import DebateStatus
from bot.settings import TOKEN_PLACEHOLDERS
from bot.store import Store
from tests.e2e.harness import DISCORD_TOKEN, GEMINI_KEY, bot_environment, start_bot, wait_for_line
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_gemini import FakeGemini, Reply

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SIGNAL_EXIT_S = 5.0  # a stop signal during the start-up ends the process within this
USAGE = "usage: python -m bot"


@dataclass
class Finished:
    """A ``python -m bot`` process that ended: its exit code, its output, and how long it ran."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def verdicts(self) -> list[str]:
        """The lines that say why the process ended (Parley's own, not log lines)."""
        return [line for line in self.stderr.splitlines() if line.startswith("parley: ")]

    def assert_clean(self) -> None:
        """No traceback, no secret, and the one line saying why it ended is the last thing printed."""
        output = self.stdout + self.stderr
        assert "Traceback" not in output, output
        assert DISCORD_TOKEN not in output
        assert GEMINI_KEY not in output
        assert len(self.verdicts) == 1, output
        assert self.stderr.rstrip("\n").splitlines()[-1] == self.verdicts[0], output


async def launch(
    environment: dict[str, str], cwd: Path, *arguments: str, python: tuple[str, ...] = (sys.executable,)
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *python,
        "-m",
        "bot",
        *arguments,
        cwd=cwd,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(process: asyncio.subprocess.Process, started: float, seconds: float) -> Finished:
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), seconds)
    except TimeoutError:
        process.kill()
        stdout, stderr = await process.communicate()
        raise AssertionError(f"still running after {seconds} s:\n{stderr.decode()}") from None
    assert process.returncode is not None
    return Finished(process.returncode, stdout.decode(), stderr.decode(), time.monotonic() - started)


async def run_parley(
    environment: dict[str, str], cwd: Path, *arguments: str, seconds: float = 60
) -> Finished:
    """``python -m bot`` to the end, within ``seconds``."""
    started = time.monotonic()
    return await finish(await launch(environment, cwd, *arguments), started, seconds)


class SilentServer:
    """Accepts TCP connections and never answers: a Discord (or anything) that hangs."""

    def __init__(self) -> None:
        self.connections = 0
        self.accepted = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._held: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._held.append(writer)
        self.accepted.set()

    async def __aenter__(self) -> SilentServer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        for writer in self._held:
            writer.close()
        self._server.close()
        await self._server.wait_closed()


@contextlib.asynccontextmanager
async def answering(status: int, body: str, headers: dict[str, str]) -> AsyncIterator[str]:
    """An HTTP server answering every request with ``status``, ``body`` (JSON) and ``headers``; its URL."""

    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body, content_type="application/json", headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=GEMINI_KEY) as fake:
        yield fake


@pytest.fixture
async def discord() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=DISCORD_TOKEN) as fake:
        fake.add_guild("Start-up Guild")
        yield fake


def environment_for(discord: FakeDiscord, gemini: FakeGemini, tmp_path: Path, **extra: str) -> dict[str, str]:
    return bot_environment(
        discord, gemini, **{"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", **extra}
    )


# ---- usage ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--help", "-h"])
async def test_help_prints_usage_and_touches_neither_network_nor_database(flag: str, tmp_path: Path) -> None:
    async with SilentServer() as everything:
        environment = {
            "DISCORD_TOKEN": DISCORD_TOKEN,
            "GEMINI_API_KEY": GEMINI_KEY,
            "DISCORD_API_BASE": everything.url + "/api/v10",
            "GEMINI_BASE_URL": everything.url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
        }
        finished = await run_parley(environment, tmp_path, flag)
    assert finished.returncode == 0
    assert finished.stderr == ""
    assert finished.stdout.startswith(f"{USAGE} [-h] [command]\n")
    [required] = [line for line in finished.stdout.splitlines() if line.strip().startswith("Required:")]
    for variable in TOKEN_PLACEHOLDERS:  # the settings every start needs
        assert variable in required
    for pointer in ("from .env in the working directory", ".env.example", "README.md", "run the bot"):
        assert pointer in finished.stdout
    assert everything.connections == 0
    assert not (tmp_path / "p.db").exists()


async def test_help_needs_none_of_the_dependencies(tmp_path: Path) -> None:
    """``-S``: no site-packages, so no discord, google-genai or SQLAlchemy; the usage still prints."""
    started = time.monotonic()
    process = await launch({}, ROOT, "--help", python=(sys.executable, "-S"))
    finished = await finish(process, started, 30)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.startswith(USAGE)


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (("--verbose",), "python -m bot: error: unrecognized arguments: --verbose"),
        (
            ("debate",),
            "python -m bot: error: argument command: invalid choice: 'debate' (choose from 'run', 'ask')",
        ),
        (("run", "--now"), "python -m bot: error: unrecognized arguments: --now"),
    ],
)
async def test_an_unknown_argument_prints_usage_to_stderr_and_exits_2(
    arguments: tuple[str, ...], complaint: str, tmp_path: Path
) -> None:
    finished = await run_parley({}, tmp_path, *arguments)
    assert finished.returncode == 2
    assert finished.stdout == ""
    assert finished.stderr.splitlines() == [f"{USAGE} [-h] [command]", complaint]


def test_scripts_run_help_prints_usage_without_installing_or_starting_anything(tmp_path: Path) -> None:
    checkout = tmp_path / "parley"
    for part in ("scripts", "bot"):
        shutil.copytree(ROOT / part, checkout / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", checkout)
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "python3").symlink_to(Path(sys.executable).resolve())  # the interpreter, not this venv
    result = subprocess.run(
        [checkout / "scripts" / "run", "--help"],
        cwd=tmp_path,
        env={"PATH": f"{tools}:/usr/bin:/bin"},  # no DISCORD_TOKEN: a started bot would exit 2
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith(USAGE)
    assert not (checkout / ".venv").exists()


# ---- start-up failures -----------------------------------------------------------------------------


async def test_a_rejected_discord_token_is_a_configuration_error(
    discord: FakeDiscord, gemini: FakeGemini, tmp_path: Path
) -> None:
    environment = environment_for(discord, gemini, tmp_path, DISCORD_TOKEN="not-the-bot-token")
    finished = await run_parley(environment, tmp_path)
    finished.assert_clean()
    assert finished.returncode == 2
    assert finished.verdicts == ["parley: Discord rejected DISCORD_TOKEN (check the bot token)"]
    assert "not-the-bot-token" not in finished.stderr


async def test_a_metrics_port_in_use_is_a_configuration_error(
    discord: FakeDiscord, gemini: FakeGemini, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        environment = environment_for(discord, gemini, tmp_path, METRICS_PORT=str(port))
        finished = await run_parley(environment, tmp_path)
    finished.assert_clean()
    assert finished.returncode == 2
    (verdict,) = finished.verdicts
    assert verdict.startswith(f"parley: cannot serve metrics on METRICS_PORT={port} (")
    assert verdict.endswith("choose a free port or leave METRICS_PORT unset")


async def test_a_refused_connection_names_discord_api_base(gemini: FakeGemini, tmp_path: Path) -> None:
    async with FakeDiscord(token=DISCORD_TOKEN) as discord:
        base = f"http://127.0.0.1:{closed_port()}/api/v10"
        finished = await run_parley(
            environment_for(discord, gemini, tmp_path, DISCORD_API_BASE=base), tmp_path
        )
    finished.assert_clean()
    assert finished.returncode == 1
    [line] = finished.verdicts
    assert line.startswith("parley: cannot reach Discord: [Errno 111] Connect call failed")
    assert line.endswith(f"(DISCORD_API_BASE={base})")


async def test_a_base_without_the_api_version_answers_404_and_says_so(
    discord: FakeDiscord, gemini: FakeGemini, tmp_path: Path
) -> None:
    environment = environment_for(discord, gemini, tmp_path, DISCORD_API_BASE=discord.base_url)
    finished = await run_parley(environment, tmp_path)
    finished.assert_clean()
    assert finished.returncode == 1
    assert finished.verdicts == [
        f"parley: Discord answered 404 Not Found to GET {discord.base_url}/users/@me; check DISCORD_API_BASE "
        "(it includes the API version, like https://discord.com/api/v10)"
    ]


async def test_a_cloudflare_ban_is_named_as_such(
    discord: FakeDiscord, gemini: FakeGemini, tmp_path: Path
) -> None:
    # Cloudflare's ban answers 429 without Discord's ``Via`` header and without ``retry_after``
    # (https://discord.com/developers/docs/topics/rate-limits#invalid-request-limit-aka-cloudflare-bans);
    # discord.py tells it from Discord's own 429 by that header (discord/http.py, ``HTTPClient.request``).
    body = '{"message": "You are being blocked from accessing our API temporarily.", "code": 0}'
    async with answering(429, body, {}) as cloudflare:
        environment = environment_for(discord, gemini, tmp_path, DISCORD_API_BASE=cloudflare + "/api/v10")
        finished = await run_parley(environment, tmp_path)
    finished.assert_clean()
    assert finished.returncode == 1
    assert finished.verdicts == [
        f"parley: Discord answered 429 Too Many Requests to GET {cloudflare}/api/v10/users/@me: this IP "
        "address is probably banned for a while by Cloudflare; try again later"
    ]


async def test_an_unknown_gemini_model_is_named_with_its_variable_and_exits_2(
    discord: FakeDiscord, gemini: FakeGemini, tmp_path: Path
) -> None:
    environment = environment_for(discord, gemini, tmp_path, PERSONA_MODEL="gemini-does-not-exist")
    finished = await run_parley(environment, tmp_path)
    finished.assert_clean()
    assert finished.returncode == 2
    assert finished.verdicts == [
        "parley: Gemini does not know the model PERSONA_MODEL=gemini-does-not-exist (check the name; a list "
        "is at https://ai.google.dev/gemini-api/docs/models)"
    ]
    assert discord.requests == []  # stopped before Discord


async def test_an_unusable_database_is_one_line_without_its_password(
    discord: FakeDiscord, gemini: FakeGemini, tmp_path: Path
) -> None:
    port = closed_port()
    url = f"postgresql+asyncpg://parley:hunter2@127.0.0.1:{port}/parley"
    finished = await run_parley(environment_for(discord, gemini, tmp_path, DATABASE_URL=url), tmp_path)
    finished.assert_clean()
    assert finished.returncode == 1
    [line] = finished.verdicts
    assert line.startswith(
        f"parley: cannot open the database at postgresql+asyncpg://parley:***@127.0.0.1:{port}"
    )
    assert "hunter2" not in finished.stderr
    assert discord.requests == []


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("PERSONA_TIMEOUT_S", "nan", "PERSONA_TIMEOUT_S must be a finite number, got 'nan'"),
        ("PERSONA_TIMEOUT_S", "900", "PERSONA_TIMEOUT_S must be at most 120.0, got '900'"),
        ("SHUTDOWN_GRACE_S", "inf", "SHUTDOWN_GRACE_S must be a finite number, got 'inf'"),
        ("DISCORD_TOKEN", "", "DISCORD_TOKEN is missing"),
    ],
)
async def test_a_setting_that_makes_no_sense_is_one_line_and_nothing_is_touched(
    discord: FakeDiscord, gemini: FakeGemini, tmp_path: Path, variable: str, value: str, said: str
) -> None:
    finished = await run_parley(environment_for(discord, gemini, tmp_path, **{variable: value}), tmp_path)
    finished.assert_clean()
    assert finished.returncode == 2
    assert finished.verdicts[0].startswith(f"parley: {said}")
    assert discord.requests == []
    assert gemini.calls == []
    assert not (tmp_path / "p.db").exists()


async def test_silent_failing_and_unreachable_discords_each_end_in_one_line_within_the_bound(
    gemini: FakeGemini, tmp_path: Path
) -> None:
    """Three start-ups that take long, run side by side: a Discord that accepts connections and never
    answers, one that answers 500 to every try discord.py makes, and a gateway URL nothing listens on."""
    gateway_port = closed_port()
    async with (
        SilentServer() as silent,
        FakeDiscord(token=DISCORD_TOKEN) as failing,
        FakeDiscord(token=DISCORD_TOKEN) as unreachable,
    ):
        # discord.py tries a 500 five times (discord/http.py, ``HTTPClient.request``), then gives up.
        failing.fail_next(
            "GET /users/@me", 500, {"message": "500: Internal Server Error", "code": 0}, count=5
        )
        # ``GET /gateway/bot`` answers as usual, but with a gateway URL that nothing listens on.
        unreachable.fail_next(
            "GET /gateway/bot",
            200,
            {
                "url": f"ws://127.0.0.1:{gateway_port}",
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            },
        )
        silent_base = silent.url + "/api/v10"
        scratch = {name: tmp_path / name for name in ("silent", "failing", "unreachable")}
        for directory in scratch.values():
            directory.mkdir()
        bound = STARTUP_TIMEOUT_S + 15
        hung, failed, cut_off = await asyncio.gather(
            run_parley(
                environment_for(unreachable, gemini, scratch["silent"], DISCORD_API_BASE=silent_base),
                scratch["silent"],
                seconds=bound,
            ),
            run_parley(
                environment_for(failing, gemini, scratch["failing"]), scratch["failing"], seconds=bound
            ),
            run_parley(
                environment_for(unreachable, gemini, scratch["unreachable"]),
                scratch["unreachable"],
                seconds=bound,
            ),
        )
    for finished in (hung, failed, cut_off):
        finished.assert_clean()
        assert finished.returncode == 1, finished.stderr

    assert hung.verdicts == [
        f"parley: no answer from Discord within {STARTUP_TIMEOUT_S:g} s (DISCORD_API_BASE={silent_base})"
    ]
    assert silent.connections >= 1
    assert hung.seconds >= STARTUP_TIMEOUT_S

    assert failed.verdicts == [
        f"parley: Discord answered 500 Internal Server Error to GET {failing.api_base}/users/@me: Discord is "
        "having trouble; try again later"
    ]
    assert [r.status for r in failing.requests if r.route == "GET /users/@me"] == [500] * 5

    [line] = cut_off.verdicts
    assert line.startswith(
        f"parley: cannot connect to Discord's gateway at ws://127.0.0.1:{gateway_port} within "
        f"{STARTUP_TIMEOUT_S:g} s (ClientConnectorError: Cannot connect to host 127.0.0.1:{gateway_port}"
    )
    retries = [line for line in cut_off.stderr.splitlines() if "Failed to connect for shard_id: 0" in line]
    assert retries, cut_off.stderr  # each try logged, as one line (no traceback: assert_clean)


# ---- stop signals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
async def test_a_stop_signal_while_discord_hangs_stops_at_once(
    stop: signal.Signals, discord: FakeDiscord, gemini: FakeGemini, tmp_path: Path
) -> None:
    async with SilentServer() as silent:
        environment = environment_for(discord, gemini, tmp_path, DISCORD_API_BASE=silent.url + "/api/v10")
        started = time.monotonic()
        process = await launch(environment, tmp_path)
        await asyncio.wait_for(silent.accepted.wait(), 30)  # logging in, and no answer coming
        signalled = time.monotonic()
        process.send_signal(stop)
        finished = await finish(process, started, 30)
    finished.assert_clean()
    assert finished.returncode == 0
    assert finished.verdicts == [f"parley: stopped ({stop.name}) before connecting to Discord"]
    assert time.monotonic() - signalled < SIGNAL_EXIT_S


async def debate_located(database: Path) -> None:
    """Wait until the running debate has recorded where it posts (so that its note can go there)."""
    store = await Store.open(f"sqlite+aiosqlite:///{database}")
    try:
        async with asyncio.timeout(10):
            while True:
                if any(debate.posts_channel_id for debate in await store.unfinished_debates()):
                    return
                await asyncio.sleep(0.05)  # another process writes it: nothing here to wait on
    finally:
        await store.close()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
async def test_a_second_stop_signal_interrupts_running_debates_at_once(
    stop: signal.Signals, discord: FakeDiscord, gemini: FakeGemini, tmp_path: Path
) -> None:
    for persona in ("Rebel Pilot", "Imperial Officer", "Neutral Citizen", "Droid Analyst"):
        gemini.script(f"You are {persona},", Reply("Too late.", latency=60))
    database = tmp_path / "p.db"
    environment = environment_for(discord, gemini, tmp_path, SHUTDOWN_GRACE_S="60")
    log = tmp_path / "bot.log"
    process = await start_bot(environment, tmp_path, log)
    try:
        interaction = await discord.invoke_command("debate", options={"question": "Will the Alliance hold?"})
        await gemini.wait_for_calls(4, timeout=10)
        await debate_located(database)
        process.send_signal(stop)
        await wait_for_line(log, f"{stop.name}: stopping; no new debates", process, 10)
        signalled = time.monotonic()
        process.send_signal(stop)
        returncode = await asyncio.wait_for(process.wait(), STOP_NOW_WAIT_S + 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stopped_in = time.monotonic() - signalled
    output = log.read_text()
    assert returncode == 0, output
    assert stopped_in < STOP_NOW_WAIT_S, output
    assert f"{stop.name} again: stopping now, interrupting 1 running debates" in output
    assert "Traceback" not in output
    thread_id = interaction.original_message_id
    assert thread_id is not None
    notes = [
        m["content"] for m in discord.channel_messages(thread_id) if "interrupted" in m.get("content", "")
    ]
    assert notes == [
        "⚠️ This debate was interrupted: Parley was shut down before it finished. 0 of 4 answers had arrived; "
        "they are kept above, and nothing else will follow."
    ]
    store = await Store.open(f"sqlite+aiosqlite:///{database}")
    try:
        assert await store.debate_status(1) is DebateStatus.INTERRUPTED
    finally:
        await store.close()
