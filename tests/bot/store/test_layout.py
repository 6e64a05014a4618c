"""bot/store's modules depend on each other in one direction only, type-only imports included."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

STORE = Path(__file__).resolve().parents[3] / "bot" / "store"


def store_imports(path: Path) -> set[str]:
    """The ``bot.store`` modules ``path`` imports anywhere in it (``if TYPE_CHECKING:`` blocks too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bot.store"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("bot.store"))
    return found


def test_the_store_modules_import_each_other_without_a_cycle() -> None:
    modules = {path.stem: path for path in STORE.glob("*.py") if path.stem != "__init__"}
    assert {"schema", "engine", "cache", "panels", "records"} <= set(modules)
    graph = {
        name: {module.removeprefix("bot.store.") for module in store_imports(path)} & set(modules)
        for name, path in modules.items()
    }
    for name, path in modules.items():
        assert "bot.store" not in store_imports(path), f"{name} imports the package that imports it"
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise AssertionError(f"import cycle: {error.args[1]}") from None
    assert order.index("schema") < order.index("panels")
    assert order.index("engine") < order.index("records")
