"""The import graph of bot/ and cogs/: no cycles (imports for type checking included), and one reader of
the environment."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "cogs")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def imported(module: str, path: Path) -> Iterator[str]:
    """Every module ``module`` names in an import, wherever the import is: at the top, in a function,
    or under ``if TYPE_CHECKING:``. ``from a import b`` names ``a.b`` when that is a module, else ``a``."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            yield source
            yield from (f"{source}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {
        module: {name for name in imported(module, path) if name in modules and name != module}
        for module, path in modules.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, …, a]``, or ``None`` when the graph has none."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" once fully explored
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        path.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)) is not None:
            return cycle
    return None


def test_the_graph_is_read_from_every_module_including_type_checking_imports(tmp_path: Path) -> None:
    graph = import_graph()
    assert {"bot.client", "bot.errors", "bot.moderation", "cogs.personas", "bot.core.panel"} <= graph.keys()
    assert "bot.core.validation" in graph["bot.core.panel"]
    module = tmp_path / "typed.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from bot.client import ParleyBot\n"
        "def later() -> None:\n"
        "    from . import sibling\n"
    )
    names = set(imported("bot.typed", module))
    assert "bot.client" in names, "an import under TYPE_CHECKING is part of the graph"
    assert "bot.sibling" in names, "so is a relative import inside a function"


def test_bot_and_cogs_import_each_other_without_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"c"}}) == ["c", "c"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_errors_do_not_depend_on_moderation() -> None:
    assert "bot.moderation" not in import_graph()["bot.errors"]


ENVIRONMENT_READERS = {"environ", "environb", "getenv", "getenvb", "load_dotenv", "dotenv_values"}


def names_used(path: Path) -> set[str]:
    """Every name, attribute and imported name in a module."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add(node.name.rsplit(".", 1)[-1])
    return names


def test_settings_is_the_only_reader_of_the_environment() -> None:
    readers = {module for module, path in project_modules().items() if names_used(path) & ENVIRONMENT_READERS}
    assert readers == {"bot.settings"}
