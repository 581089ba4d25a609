"""The import graph is a design document (STYLE.md, docs/architecture.md, ADR 0049): no
circle between modules or between packages, no package importing one in a layer above its
own, the composition root (gateway/app.py) and the tools (gateway/cli) above everything
else. Every import counts, the ones inside a function and under TYPE_CHECKING too: a lazy
import is how the last circle (the OpenAPI document building the app that imports it) hid."""

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
    "controllers": {"shared", "openapi", "controllers"},  # only its private modules: below
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
                # one controller never reaches into another: what they share is the top level,
                # or a private module of the controllers package (`_credentials`: routes built
                # once for two controllers)
                or (
                    part == _part(i) == "controllers"
                    and module != i
                    and not i.rpartition(".")[2].startswith("_")
                )
            )
        )
        if bad:
            wrong[module] = bad
    assert wrong == {}


# Top to bottom: a module may import its own package, and packages in layers below its own.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("gateway.cli",),  # the commands: tools beside the runtime
    ("gateway.app",),  # the composition root of the HTTP app
    ("gateway.api", "gateway.mcp_proxy"),  # the edges: the HTTP API and /mcp
    ("gateway.wiring",),  # builds every backend and service from the settings
    ("gateway.services",),  # use cases, no HTTP
    ("gateway.audit",),  # the decision log: recorder, writer, logs, masking, replay
    ("gateway.policy",),  # the engines and the Authorizer (with a recorder port: no audit)
    ("gateway.auth", "gateway.marketplace", "gateway.sandbox", "gateway.secrets", "gateway.stores"),
    ("gateway.observability",),
    ("gateway.config",),
    ("gateway.domain", "gateway.errors", "gateway"),
)
# Leaves: modules any layer may read, because they import nothing of the gateway but what is
# listed (data types). The request scope is audit's, and read by the stores (read-ahead) and
# the log formatter (request and decision ids).
LEAVES: dict[str, set[str]] = {
    "gateway.audit.scope": {"gateway.domain.requests", "gateway.audit.records"},
    "gateway.audit.records": set(),  # the record type only (under TYPE_CHECKING in scope)
}


def _layer(module: str) -> int:
    best, found = -1, len(LAYERS)
    for index, layer in enumerate(LAYERS):
        for prefix in layer:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    return found


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_every_module_is_in_a_layer() -> None:
    assert [m for m in graph() if _layer(m) == len(LAYERS)] == []


def test_no_module_imports_a_package_in_a_layer_above_its_own() -> None:
    upward = [
        f"{module} -> {target}"
        for module, targets in graph().items()
        for target in targets
        if target not in LEAVES
        and _package(target) != _package(module)
        and _layer(target) < _layer(module)
    ]
    assert upward == []


def test_no_two_packages_import_each_other() -> None:
    """Policy and audit used to (the decider built log records; replay compiled policies)."""
    edges = {
        (_package(m), _package(t))
        for m, targets in graph().items()
        for t in targets
        if t not in LEAVES and _package(m) != _package(t)
    }
    assert sorted(f"{a} <-> {b}" for a, b in edges if (b, a) in edges and a < b) == []


def test_leaves_import_only_what_they_may() -> None:
    assert {leaf: sorted(graph()[leaf] - allowed) for leaf, allowed in LEAVES.items()} == {
        leaf: [] for leaf in LEAVES
    }


def test_the_decider_knows_the_log_only_through_its_recorder_port() -> None:
    """gateway/policy/recording.py is the port; gateway/audit/recorder.py implements it."""
    reaching = [
        f"{m} -> {t}"
        for m, targets in graph().items()
        if m.startswith("gateway.policy")
        for t in targets
        if t.startswith("gateway.audit")
    ]
    assert reaching == []
    assert "gateway.policy.recording" in graph()["gateway.policy.decider"]  # read for real
