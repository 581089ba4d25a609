"""Which modules an entrypoint can reach, so that each entrypoint is compiled into a bundle
of its own (gateway/policy/embedded.py).

rego-cpp verifies the whole bundle on every query (`VirtualMachine::bundle` calls
`BundleDef::verify`, which walks every statement of every plan and function): with every
shipped module in one bundle that was ~550 µs of each decision before any rule ran — a query
of `x := 1` cost 568 µs beside the shipped modules and 11 µs alone (docs/performance.md,
ADR 0062). A bundle of what one entrypoint can reach verifies only that.

Reach is read from the syntax (gateway/policy/rego_refs.py, held to `opa parse`'s AST) and
errs on the side of more: it starts from the modules whose package overlaps the entrypoint's
path (one is a prefix of the other: they build the same document tree); from each module
taken it adds every module whose package overlaps that module's package, and every module
whose package overlaps one of its `data` references or imports (up to the reference's first
key computed at evaluation). A `data` reference with no static key (`data[x]`, `data`
itself) reaches every module. A module is left out only when nothing can name its document.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.policy.rego_refs import references

_Path = tuple[str, ...]


def _overlap(a: _Path, b: _Path) -> bool:
    """One path is a prefix of the other: a document of one holds, or is, the other."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _static(path: tuple[str | None, ...]) -> _Path:
    out: list[str] = []
    for key in path:
        if key is None:
            break
        out.append(key)
    return tuple(out)


def _named(text: str) -> tuple[_Path, list[_Path]]:
    """A module's package (its keys as written: `package a["b.c"]` is a, b.c), and the static
    prefixes of the `data` documents it names."""
    refs = references(text)
    clause = next((r for r in refs if r.role == "package"), None)
    package = _static((clause.head, *clause.path)) if clause is not None else ()
    named = [_static(ref.path) for ref in refs if ref.head == "data" and ref is not clause]
    return package, named


def reach(entrypoint: str, modules: Mapping[str, str]) -> frozenset[str]:
    """The modules (by name) that evaluating `entrypoint` (`gateway/authz/decision`) can
    touch."""
    read = {name: _named(text) for name, text in modules.items()}
    wanted: list[_Path] = [tuple(entrypoint.split("/"))]
    taken: set[str] = set()
    while wanted:
        document = wanted.pop()
        for name, (package, named) in read.items():
            if name in taken or not _overlap(package, document):
                continue
            taken.add(name)
            if any(not path for path in named):
                return frozenset(modules)
            wanted.append(package)
            wanted.extend(named)
    return frozenset(taken)


def bundles(
    entrypoints: tuple[str, ...], modules: Mapping[str, str]
) -> tuple[dict[frozenset[str], tuple[str, ...]], frozenset[str]]:
    """The entrypoints grouped by the modules they reach (one bundle each), and the modules
    no entrypoint reaches (compiled once anyway, so an error in them is still an error)."""
    groups: dict[frozenset[str], tuple[str, ...]] = {}
    for entrypoint in entrypoints:
        found = reach(entrypoint, modules)
        groups[found] = (*groups.get(found, ()), entrypoint)
    reached = frozenset().union(*groups)
    return groups, frozenset(modules) - reached
