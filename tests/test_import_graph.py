"""The packages of the application import each other in one direction only: no cycles between
`webapp.<package>`s (imports inside functions count too), and `ml` imports nothing from `webapp`."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import ROOT


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _package(module: str) -> str | None:
    """The unit a module belongs to: `webapp.<package>` for packages, else the module itself."""
    parts = module.split(".")
    if parts[0] != "webapp" or len(parts) < 2:
        return None
    if (ROOT / "webapp" / parts[1]).is_dir():
        return f"webapp.{parts[1]}"
    return None  # webapp's own modules (db, errors, extensions, ...) are the base layer


def package_graph() -> dict[str, set[str]]:
    """package -> the packages it imports."""
    graph: dict[str, set[str]] = {}
    for path in (ROOT / "webapp").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        source = _package(module)
        if source is None:
            continue
        targets = {_package(name) for name in _imports(path)}
        graph.setdefault(source, set()).update(t for t in targets if t and t != source)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_webapp_packages_have_no_import_cycle():
    graph = package_graph()
    assert "webapp.studio" in graph and "webapp.employees" in graph
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_ml_imports_nothing_from_webapp_or_flask():
    for path in (ROOT / "ml").rglob("*.py"):
        names = _imports(path)
        assert not any(n == "webapp" or n.startswith(("webapp.", "flask")) for n in names), path
