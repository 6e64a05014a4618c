"""bot/core stays pure: the standard library, itself, and pure data libraries; no I/O, Discord or Google."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[3] / "bot" / "core"
PURE_THIRD_PARTY = {"emoji"}  # Unicode emoji data, no I/O


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_imports_only_the_standard_library_itself_and_pure_data_libraries() -> None:
    files = sorted(CORE.glob("*.py"))
    assert len(files) >= 6
    for path in files:
        foreign = imported_roots(path) - {*sys.stdlib_module_names, "bot", *PURE_THIRD_PARTY}
        assert not foreign, f"{path.name} imports {sorted(foreign)}"
        assert not {module for module in _bot_modules(path) if not module.startswith("bot.core")}, (
            f"{path.name} reaches outside bot.core"
        )


def _bot_modules(path: Path) -> set[str]:
    return {
        node.module
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bot"
    }
