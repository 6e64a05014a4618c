"""Where the bot's CPU goes: py-spy samples of the running bot, summed by library and by function."""

from __future__ import annotations

import asyncio
import collections
import shutil
import sys
from pathlib import Path

# A sample belongs to the library of its innermost frame that is one of these.
OWNERS = (
    ("google-genai (with pydantic, tenacity)", ("genai/", "pydantic", "tenacity")),
    ("sqlalchemy / aiosqlite", ("sqlalchemy", "aiosqlite")),
    ("discord.py", ("discord/",)),
    ("aiohttp", ("aiohttp/",)),
    ("Parley", ("(bot/", "(cogs/")),
)
IDLE = ("epoll", "select (selectors")


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found if Path(found).exists() else None


async def record(pid: int, seconds: float, output: Path) -> asyncio.subprocess.Process | None:
    """Start sampling ``pid`` for ``seconds`` into ``output`` (py-spy's raw format); None without py-spy."""
    executable = py_spy()
    if executable is None:
        return None
    return await asyncio.create_subprocess_exec(
        executable,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(round(seconds)),
        "--rate",
        "250",
        "--format",
        "raw",
        "--output",
        str(output),
        "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


def summarise(raw: Path, top: int = 12) -> str:
    """The share of busy samples per library, and the hottest innermost functions."""
    busy = 0
    owners: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not count.isdigit() or any(idle in frame for frame in frames[-2:] for idle in IDLE):
            continue
        samples = int(count)
        busy += samples
        owner = next(
            (name for frame in reversed(frames) for name, marks in OWNERS if any(m in frame for m in marks)),
            "asyncio and the standard library",
        )
        owners[owner] += samples
        leaves[frames[-1]] += samples
    if not busy:
        return "no busy samples recorded"
    lines = [f"{busy} busy samples; by library (innermost owner):"]
    lines += [f"  {share / busy:6.1%}  {name}" for name, share in owners.most_common()]
    lines.append("hottest functions (innermost frame):")
    lines += [f"  {share / busy:6.1%}  {name}" for name, share in leaves.most_common(top)]
    return "\n".join(lines)
