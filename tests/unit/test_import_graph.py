"""The import graph is a design document (STYLE.md): no circles, and the composition root
(gateway/app.py) and the tools (gateway/cli) sit above everything else. Every import counts,
the ones inside a function and under TYPE_CHECKING too: a lazy import is how the last circle
(the OpenAPI document building the app that imports it) hid."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import gateway

PACKAGE = Path(gateway.__file__).resolve().parent
ABOVE_EVERYTHING = ("gateway.app", "gateway.cli")


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def graph() -> dict[str, frozenset[str]]:
    """Module -> the gateway modules it imports (`from pkg import mod` names the module)."""
    modules = {_name(p): p for p in PACKAGE.rglob("*.py")}

    def known(name: str) -> str:
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    edges: dict[str, frozenset[str]] = {}
    for module, path in modules.items():
        found: set[str] = set()
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(known(a.name) for a in node.names if a.name.startswith("gateway."))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolved against the importing package
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}".rstrip(".")
                if base == "gateway" or base.startswith("gateway."):
                    for alias in node.names:
                        found.add(known(f"{base}.{alias.name}"))
        found.discard(module)
        edges[module] = frozenset(found - {"gateway"})
    return edges


def _circles(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in edges.get(module, ()):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while (top := stack.pop()) != module:
                component.append(top)
            if component:
                circles.append(sorted([module, *component]))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return circles


def test_no_module_imports_itself_round_a_circle() -> None:
    assert _circles(graph()) == []


def test_the_circle_finder_finds_one() -> None:
    edges = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset()}
    assert _circles(edges) == [["a", "b", "c"]]


def test_nothing_imports_the_composition_root_or_the_tools() -> None:
    """Only the tools may build an app (the CLI serves one); nothing below them may."""
    wrong = {
        module: sorted(i for i in imports if i.startswith(ABOVE_EVERYTHING))
        for module, imports in graph().items()
        if not module.startswith(ABOVE_EVERYTHING)
    }
    assert {module: imports for module, imports in wrong.items() if imports} == {}


# gateway/api: what each part may import of the others. The top level holds what the
# controllers share (deps, params, pages, requests, errors, idempotency, preconditions); the
# edge is wired around every request by the composition root alone; the OpenAPI modules
# describe the controllers' answers without importing them.
API_PARTS: dict[str, set[str]] = {
    "shared": {"shared"},
    "controllers": {"shared", "openapi"},
    "edge": {"shared", "edge"},
    "openapi": {"shared", "openapi"},
}


def _part(module: str) -> str:
    sub = module.removeprefix("gateway.api.").split(".")[0]
    return sub if sub in API_PARTS and module != "gateway.api" else "shared"


def test_the_api_parts_import_only_what_they_may() -> None:
    wrong = {}
    for module, imports in graph().items():
        if not module.startswith("gateway.api"):
            continue
        part = _part(module)
        bad = sorted(
            i
            for i in imports
            if i.startswith("gateway.api")
            and (
                _part(i) not in API_PARTS[part]
                # one controller never reaches into another: what they share is the top level
                or (part == _part(i) == "controllers" and module != i)
            )
        )
        if bad:
            wrong[module] = bad
    assert wrong == {}
