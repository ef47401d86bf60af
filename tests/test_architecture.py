"""Imports run one way, cli -> evals -> qa_service -> index (A -> B: A imports B), no module
imports itself back, and ARCHITECTURE.md names every module.

Every import statement counts, also those inside functions and under
TYPE_CHECKING: a lazy import is still a dependency, only a later one.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("index", "qa_service", "evals", "cli")  # bottom to top


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> set[str]:
    """The project modules ``path`` imports, as dotted names (``from a import b`` is ``a.b``
    when ``a/b`` is a module, else ``a``)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in LAYERS}


def import_graph() -> dict[str, set[str]]:
    files = {_module(p): p for layer in LAYERS for p in (ROOT / layer).rglob("*.py")}
    return {module: {name for name in _imports(path, module) if name in files and name != module}
            for module, path in files.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_imports_point_down_the_layers():
    rank = {layer: n for n, layer in enumerate(LAYERS)}
    upward = sorted(f"{module} imports {name}" for module, names in import_graph().items() for name in names
                    if rank[name.split(".")[0]] > rank[module.split(".")[0]])
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    cycles = _cycles(import_graph())
    assert not cycles, "modules importing each other: " + "; ".join(", ".join(c) for c in cycles)


def product_modules() -> list[str]:
    """Every module of the product packages as its path in the repository (``qa_service/reader.py``)."""
    return sorted(path.relative_to(ROOT).as_posix() for layer in LAYERS for path in (ROOT / layer).rglob("*.py")
                  if path.name != "__init__.py")


def unnamed_modules(text: str) -> list[str]:
    """The modules ``text`` does not name by their whole path (``reader.py`` alone is not ``qa_service/reader.py``)."""
    return [path for path in product_modules() if not re.search(rf"(?<![\w/.]){re.escape(path)}(?!\w)", text)]


def test_architecture_names_every_module():
    missing = unnamed_modules((ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8"))
    assert not missing, "ARCHITECTURE.md does not name: " + ", ".join(missing)
