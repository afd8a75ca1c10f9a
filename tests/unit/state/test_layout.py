"""The state package's shape: small modules, no import cycle (type-only imports included), the schema
version defined once, and SQLAlchemy kept out of what the CLI imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hybridcore.state

pytestmark = pytest.mark.unit

PACKAGE = Path(hybridcore.state.__file__).parent
NAME = "hybridcore.state"


def _modules() -> dict[str, ast.Module]:
    return {f"{NAME}.{p.stem}" if p.stem != "__init__" else NAME: ast.parse(p.read_text())
            for p in sorted(PACKAGE.glob("*.py"))}


def _imports(tree: ast.Module, known: set[str]) -> set[str]:
    """Every hybridcore.state module this one imports, at any depth (TYPE_CHECKING and function bodies)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module in known:
            subs = {f"{node.module}.{a.name}" for a in node.names} & known
            out |= subs or {node.module}
            if node.module == NAME and any(f"{NAME}.{a.name}" not in known for a in node.names):
                out.add(NAME)  # names defined by the package's __init__ itself
    return out


def test_no_module_over_400_lines() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    assert max(sizes.values()) <= 400, sizes


def test_no_import_cycle() -> None:
    modules = _modules()
    graph = {name: _imports(tree, set(modules)) - {name} for name, tree in modules.items()}
    # The package __init__ re-exports; nothing inside the package may import it back.
    assert not [m for m, deps in graph.items() if NAME in deps and m != NAME]
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path, node, dep]))
            if dep not in state:
                visit(dep, [*path, node])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [])


def test_schema_version_is_defined_once() -> None:
    defined = [p.name for p in PACKAGE.glob("*.py")
               for node in ast.walk(ast.parse(p.read_text()))
               if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SCHEMA_VERSION"
                                                       for t in node.targets)]
    assert defined == ["common.py"]


def test_sqlalchemy_only_where_it_belongs() -> None:
    """Only the SQLAlchemy backend and its schema/migration/error modules import SQLAlchemy at load time."""
    allowed = {"engine", "schema", "migrations", "dberrors"}
    offenders = []
    for p in PACKAGE.glob("*.py"):
        for node in ast.parse(p.read_text()).body:  # module level only: lazy imports are the point
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "sqlalchemy" for n in names) and p.stem not in allowed:
                offenders.append(p.name)
    assert offenders == []
