"""The references the load-time checks read (gateway/policy/rego_refs.py) are the ones OPA's
parser sees: for every module in policies/, the worked examples and a file of adversarial
cases, each reference to `input` (where, which keys, which are computed, whether a `with`
target or an import) and each impure builtin is where `opa parse`'s AST has it, and
nowhere else. The cases OPA refuses but rego-cpp runs are in
tests/unit/policy/test_rego_refs.py."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.config import REPO_POLICY_DIR
from gateway.policy.memo import IMPURE_BUILTINS
from gateway.policy.rego_refs import references
from tests.fixtures.opa_server import opa_binary

pytestmark = pytest.mark.opa

REPO = Path(__file__).resolve().parents[2]
CASES = Path(__file__).with_name("rego_refs_cases.rego")
MODULES = sorted(
    [*REPO_POLICY_DIR.rglob("*.rego"), *(REPO / "docs" / "examples").rglob("*.rego"), CASES]
)

# (line, col, keys (None: computed), role) of an input reference; (line, col, name) of a call
# of an impure builtin.
Found = tuple[list[tuple[int, int, tuple[str | None, ...], str]], list[tuple[int, int, str]]]


@pytest.fixture(scope="module")
def opa() -> str:
    binary = opa_binary()
    if binary is None:
        pytest.skip("the real OPA is not built here (run scripts/opa, which needs Go)")
    return binary


def _opa_ast(opa: str, path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [opa, "parse", "--format", "json", "--json-include", "locations,-comments", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    ast: dict[str, Any] = json.loads(done.stdout)
    return ast


def _terms(node: Any, role: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Every term of the AST, with the role of the place it is in."""
    if isinstance(node, list):
        for item in node:
            yield from _terms(item, role)
        return
    if not isinstance(node, dict):
        return
    if "type" in node and "value" in node:
        yield node, role
        if node["type"] == "ref":  # its head is the reference's, not a term of its own
            head, *keys = node["value"]
            yield from _terms(keys if head["type"] == "var" else node["value"], role)
            return
    for key, value in node.items():
        if key in ("location", "annotations"):
            continue
        if key == "with":
            for with_ in value:
                yield from _terms(with_["target"], "with")
                yield from _terms(with_["value"], role)
        else:
            yield from _terms(value, role)


def _by_opa(opa: str, path: Path) -> Found:
    ast = _opa_ast(opa, path)
    inputs, impure = [], []
    places = [(imp["path"], "import") for imp in ast.get("imports", [])]
    places.append((ast.get("rules", []), "read"))
    for place, role in places:
        for term, where in _terms(place, role):
            location = term.get("location", {})  # generated terms (a body's `true`) have none
            at = location.get("row"), location.get("col")
            if term["type"] == "var" and term["value"] == "input":
                inputs.append((*at, (), where))  # `input` alone (not a reference's head)
            if term["type"] != "ref" or term["value"][0]["type"] != "var":
                continue
            head, *keys = term["value"]
            path_ = tuple(k["value"] if k["type"] == "string" else None for k in keys)
            if head["value"] == "input":
                inputs.append((*at, path_, where))
            name = ".".join([head["value"], *(k or "" for k in path_)])
            if where == "read" and None not in path_ and name in IMPURE_BUILTINS:
                impure.append((*at, name))
    return sorted(inputs, key=repr), sorted(impure)


def _by_us(path: Path) -> Found:
    refs = list(references(path.read_text()))
    inputs = [(r.line, r.col, r.path, r.role) for r in refs if r.head == "input"]
    impure = [
        (r.line, r.col, r.name or "")
        for r in refs
        if r.role == "read" and r.name in IMPURE_BUILTINS
    ]
    return sorted(inputs, key=repr), sorted(impure)


def _ids(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_the_cases_file_has_the_cases() -> None:
    """The adversarial file is read as intended: a few anchors, so the comparison below is
    not two empty lists agreeing."""
    inputs, impure = _by_us(CASES)
    assert (6, 8, ("proposed",), "import") in inputs
    assert any(path == ("proposed", "comand") for _, _, path, _ in inputs)
    assert any(path == ("request", None) for _, _, path, _ in inputs)
    assert any(role == "with" for *_, role in inputs)
    assert {name for *_, name in impure} == {"time.now_ns", "rand.intn", "uuid.rfc4122"}
    assert len(impure) == 6


@pytest.mark.parametrize("path", MODULES, ids=_ids)
def test_references_are_where_opa_parses_them(opa: str, path: Path) -> None:
    ours, theirs = _by_us(path), _by_opa(opa, path)
    assert ours[0] == theirs[0], "input references differ"
    assert ours[1] == theirs[1], "impure builtins differ"


def test_the_impure_list_has_every_builtin_opa_calls_nondeterministic(opa: str) -> None:
    done = subprocess.run(
        [opa, "capabilities", "--current"], capture_output=True, text=True, check=True
    )
    builtins = json.loads(done.stdout)["builtins"]
    nondeterministic = {b["name"] for b in builtins if b.get("nondeterministic")}
    assert nondeterministic and nondeterministic <= IMPURE_BUILTINS
