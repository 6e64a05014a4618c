"""bot/core stays pure: the standard library, itself, and pure data libraries; no I/O, Discord or Google."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[3] / "bot" / "core"
PURE_THIRD_PARTY = {"emoji"}  # Unicode emoji data, no I/O
NEVER = {"discord", "google", "aiohttp", "sqlalchemy", "asyncpg", "aiosqlite", "alembic", "dotenv"}


def imported_modules(source: str, module: str) -> set[str]:
    """Absolute names of every module imported anywhere in ``source`` (``module``'s text), including
    ``import bot.x``, relative imports and imports under ``if TYPE_CHECKING:``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".")[: -node.level]
                names.add(".".join([*package, *([node.module] if node.module else [])]))
            elif node.module:
                names.add(node.module)
    return names


def foreign(source: str, module: str) -> set[str]:
    """What ``module`` imports beyond the standard library, bot.core and pure data libraries."""
    return {
        name
        for name in imported_modules(source, module)
        if name.split(".")[0] in NEVER
        or not (
            name.split(".")[0] in sys.stdlib_module_names
            or name.split(".")[0] in PURE_THIRD_PARTY
            or name == "bot.core"
            or name.startswith("bot.core.")
        )
    }


def test_core_imports_only_the_standard_library_itself_and_pure_data_libraries() -> None:
    files = sorted(CORE.glob("*.py"))
    assert len(files) >= 6
    for path in files:
        imports = foreign(path.read_text(), f"bot.core.{path.stem}")
        assert not imports, f"{path.name} imports {sorted(imports)}"


@pytest.mark.parametrize(
    "source",
    [
        "import discord",
        "import bot.client",
        "from bot import client",
        "from bot.errors import report",
        "from .. import store",
        "from ..settings import Settings",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.client import ParleyBot",
        "def later():\n    import sqlalchemy",
        "from google import genai",
        "import aiohttp.web",
    ],
)
def test_every_way_out_of_core_is_caught(source: str) -> None:
    assert foreign(source, "bot.core.render")


def test_core_may_import_itself_and_the_standard_library() -> None:
    source = (
        "import re\nfrom . import text\nfrom .panel import Panel\nfrom bot.core.llm import LLM\nimport emoji"
    )
    assert not foreign(source, "bot.core.render")
