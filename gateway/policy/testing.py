"""Runs every `test_*` rule of the `*_test.rego` files in a policy directory through the
embedded engine (OPA's `opa test` for those without an OPA binary)."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
from regopy import Interpreter, RegoError
from regopy.rego_shared import rego_get_error

from gateway.policy.sources import load_policy_sources

_PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)
_TEST = re.compile(r"^(test_\w+)\s*(?:if\b|:?=|\{)", re.MULTILINE)


class PolicyTestResult(msgspec.Struct, frozen=True):
    package: str
    name: str
    passed: bool
    output: str


def discover(modules: dict[str, str]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for path, text in sorted(modules.items()):
        if not path.endswith("_test.rego"):
            continue
        package = _PACKAGE.search(text)
        if package is None:
            continue
        names = dict.fromkeys(m.group(1) for m in _TEST.finditer(text))  # keep order, once
        found.extend((package.group(1), name) for name in names)
    return found


def run_policy_tests(policy_dir: str | Path) -> list[PolicyTestResult]:
    sources = load_policy_sources(policy_dir, include_tests=True)
    tests = discover(sources.modules)
    interp = Interpreter()
    interp.add_data_json(msgspec.json.encode(sources.data).decode())
    for path, text in sources.modules.items():
        interp.add_module(path, text)
    entrypoints = [f"{package.replace('.', '/')}/{name}" for package, name in tests]
    # One compiled bundle for every test: a plain query would recompile the modules each time
    # (~0.5 s apiece).
    try:
        bundle = interp.build(None, entrypoints) if entrypoints else None
    except RegoError as exc:
        error = f"error: policies do not compile: {str(exc)[:500]}"
        return [PolicyTestResult(package=p, name=n, passed=False, output=error) for p, n in tests]
    results = []
    for (package, name), entrypoint in zip(tests, entrypoints, strict=True):
        try:
            result = interp.query_bundle_entrypoint(bundle, entrypoint)
            # str() of a failed output crashes rego-cpp: read the interpreter's error instead.
            output = str(result) if result.ok() else f"error: {rego_get_error(interp._impl)}"
        except (RegoError, ValueError) as exc:
            output = f"error: {str(exc)[:500]}"
        # A test passes only when it is defined and true, like `opa test`.
        passed = output.replace(" ", "") == '{"expressions":[true]}'
        results.append(PolicyTestResult(package=package, name=name, passed=passed, output=output))
    return results
