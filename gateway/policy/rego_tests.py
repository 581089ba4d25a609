"""The Rego tests of a policy directory (`gateway policy test`, and the check before a bundle
is built): runs every `test_*` rule of the `*_test.rego` files in a policy
directory through the embedded engine (OPA's `opa test` for those without an OPA binary): a
test passes only when it is defined and true. A failing test is reported with its file, line
and source and what it evaluated to (false, undefined, or the engine's error)."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import msgspec
from regopy import RegoError
from regopy.rego_shared import rego_get_error

from gateway.policy.embedded import describe_rego_error, quiet_interpreter
from gateway.policy.sources import PACKAGE, PolicyLoadError, PolicySources, load_policy_sources

_TEST = re.compile(r"^(test_\w+)\s*(?:if\b|:?=|\{)", re.MULTILINE)
_NEXT_RULE = re.compile(r"^(?![})\]])\S", re.MULTILINE)


class PolicyTestResult(msgspec.Struct, frozen=True, kw_only=True):
    package: str
    name: str
    passed: bool
    output: str  # what the test evaluated to: `true`, `false`, `undefined` or `error: …`
    location: str = ""  # file:line
    source: str = ""  # the rule's text
    # For a failure: the first statement of the body that did not hold, and the values its
    # earlier statements assigned (like `opa test --var-values`).
    failed_at: str = ""
    values: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.package}.{self.name}"


class _Found(msgspec.Struct, frozen=True):
    package: str
    name: str
    location: str
    source: str
    path: str = ""  # the module's path in the directory
    line: int = 0


def discover(modules: dict[str, str], root: Path = Path()) -> list[_Found]:
    found: list[_Found] = []
    for path, text in sorted(modules.items()):
        if not path.endswith("_test.rego"):
            continue
        package = PACKAGE.search(text)
        if package is None:
            continue
        seen: set[str] = set()
        for match in _TEST.finditer(text):
            name = match.group(1)
            if name in seen:  # an incremental test: report it once
                continue
            seen.add(name)
            end = _NEXT_RULE.search(text, match.end())
            source = text[match.start() : end.start() if end else len(text)].rstrip()
            line = text.count("\n", 0, match.start()) + 1
            found.append(
                _Found(package.group(1), name, f"{root / path}:{line}", source, path, line)
            )
    return found


def _value(output: str) -> str:
    """rego-cpp's `{"expressions":[true]}` -> `true`; `undefined` stays."""
    try:
        doc = msgspec.json.decode(output)
    except msgspec.DecodeError:
        return output
    if isinstance(doc, dict) and doc.get("expressions"):
        return msgspec.json.encode(doc["expressions"][0]).decode()
    return output


def run_policy_tests(policy_dir: str | Path, run: str | None = None) -> list[PolicyTestResult]:
    """Every test (those whose `package.name` matches the regex `run`, if given)."""
    root = Path(policy_dir)
    sources = load_policy_sources(root, include_tests=True, require_manifest=False)
    pattern = re.compile(run) if run else None
    tests = [
        t
        for t in discover(sources.modules, root)
        if pattern is None or pattern.search(f"{t.package}.{t.name}")
    ]
    outputs = _OUTCOMES.get((sources.revision, run))
    if outputs is None:
        outputs = _evaluate(tests, sources, root)
        _OUTCOMES.put((sources.revision, run), outputs)
    results = []
    for test, output in zip(tests, outputs, strict=True):
        found = _result(test, output)
        if not found.passed:
            found = _explain(found, test, sources.modules, sources.data)
        results.append(found)
    return results


class _Outcomes:
    """What each test evaluated to, by the revision of the files read (the tests' too: a hash
    of every module's text and every data.json's value, wherever the directory is) and the
    `run` pattern: the same files always evaluate the same. Running the shipped tests costs
    seconds of CPU, and a process may run them on the same files again and again (a gateway
    serving bundles on every policy change, an edit undone included; the test suite, a dozen
    times per worker). Bounded: the oldest go first."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._outputs: OrderedDict[tuple[str, str | None], tuple[str, ...]] = OrderedDict()
        self._lock = threading.Lock()  # bundles are checked off the event loop

    def get(self, key: tuple[str, str | None]) -> tuple[str, ...] | None:
        with self._lock:
            return self._outputs.get(key)

    def put(self, key: tuple[str, str | None], outputs: tuple[str, ...]) -> None:
        with self._lock:
            self._outputs[key] = outputs
            while len(self._outputs) > self._limit:
                self._outputs.popitem(last=False)


_OUTCOMES = _Outcomes(limit=8)


def _evaluate(tests: list[_Found], sources: PolicySources, root: Path) -> tuple[str, ...]:
    """What each test evaluates to: `true`, `false`, `undefined` or `error: …`."""
    interp = quiet_interpreter()
    interp.add_data_json(msgspec.json.encode(sources.data).decode())
    try:
        for path, text in sources.modules.items():
            interp.add_module(path, text)
    except RegoError as exc:  # a module that does not parse: named, like `policy check` does
        raise PolicyLoadError(describe_rego_error(exc, sources.modules, root)) from exc
    entrypoints = [f"{t.package.replace('.', '/')}/{t.name}" for t in tests]
    # One compiled bundle for every test: a plain query would recompile the modules each time
    # (~0.5 s apiece).
    try:
        bundle = interp.build(None, entrypoints) if entrypoints else None
    except RegoError as exc:
        error = "error: the policies do not compile:\n" + describe_rego_error(
            exc, sources.modules, root
        )
        return tuple(error for _ in tests)
    outputs = []
    for entrypoint in entrypoints:
        try:
            result = interp.query_bundle_entrypoint(bundle, entrypoint)
            # str() of a failed output crashes rego-cpp: read the interpreter's error instead.
            output = (
                _value(str(result)) if result.ok() else f"error: {rego_get_error(interp._impl)}"
            )
        except (RegoError, ValueError) as exc:
            output = f"error: {str(exc)[:500]}"
        outputs.append(output)
    return tuple(outputs)


def _result(test: _Found, output: str) -> PolicyTestResult:
    return PolicyTestResult(
        package=test.package,
        name=test.name,
        passed=output == "true",
        output=output,
        location=test.location,
        source=test.source,
    )


_ASSIGNED = re.compile(r"^([a-z_][A-Za-z0-9_]*)\s*:=")
_EXPLAIN = "__explain"


def _statements(source: str) -> list[tuple[int, str]]:
    """(line offset, text) of each top-level statement of a test's body: newlines inside
    brackets and `with` continuation lines do not end a statement."""
    head, brace, body = source.partition("{")
    if not brace or not body.rstrip().endswith("}"):
        return []
    body = body.rstrip()[:-1]
    first_line = head.count("\n")
    out: list[tuple[int, str]] = []
    current: list[str] = []
    start, depth = 0, 0
    for number, line in enumerate(body.split("\n")):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if current and depth == 0 and not stripped.startswith("with "):
            out.append((start, " ".join(current)))
            current = []
        if not current:
            start = first_line + number
        current.append(stripped)
        depth += sum(stripped.count(c) for c in "([{") - sum(stripped.count(c) for c in ")]}")
    if current:
        out.append((start, " ".join(current)))
    return out


def _explain(
    result: PolicyTestResult, test: _Found, modules: dict[str, str], data: dict[str, Any]
) -> PolicyTestResult:
    """Find the first statement that does not hold, by evaluating growing prefixes of the
    body, and the values the statements before it assigned. Best effort: a body this cannot
    split, or any engine trouble, leaves the result as it was."""
    statements = _statements(test.source)
    if not statements or result.output.startswith("error: the policies do not compile"):
        return result
    imports = "\n".join(re.findall(r"^import .*$", modules[test.path], re.MULTILINE))
    rules = []
    for k in range(1, len(statements) + 1):
        body = "\n\t".join(stmt for _, stmt in statements[:k])
        rules.append(f"{_EXPLAIN}_{k} if {{\n\t{body}\n}}")
    assigned = [
        (k, m.group(1)) for k, (_, stmt) in enumerate(statements, 1) if (m := _ASSIGNED.match(stmt))
    ]
    for k, name in assigned:
        body = "\n\t".join(stmt for _, stmt in statements[:k])
        rules.append(f"{_EXPLAIN}_var_{name} := {name} if {{\n\t{body}\n}}")
    module = f"package {test.package}\n\n{imports}\n\n" + "\n\n".join(rules) + "\n"
    prefix = test.package.replace(".", "/")
    entrypoints = [f"{prefix}/{_EXPLAIN}_{k}" for k in range(1, len(statements) + 1)]
    entrypoints += [f"{prefix}/{_EXPLAIN}_var_{name}" for _, name in assigned]
    interp = quiet_interpreter()
    try:
        interp.add_data_json(msgspec.json.encode(data).decode())
        for path, source in modules.items():
            interp.add_module(path, source)
        interp.add_module(f"{test.path}.explain.rego", module)
        bundle = interp.build(None, entrypoints)
        failed_at = ""
        for k in range(1, len(statements) + 1):
            out = interp.query_bundle_entrypoint(bundle, f"{prefix}/{_EXPLAIN}_{k}")
            if not out.ok() or _value(str(out)) != "true":
                offset, stmt = statements[k - 1]
                failed_at = f"line {test.line + offset}: {stmt}"
                break
        values = {}
        for _, name in assigned:
            out = interp.query_bundle_entrypoint(bundle, f"{prefix}/{_EXPLAIN}_var_{name}")
            if out.ok() and (value := _value(str(out))) != "undefined":
                values[name] = value
    except (RegoError, ValueError):
        return result
    return msgspec.structs.replace(result, failed_at=failed_at, values=values)
