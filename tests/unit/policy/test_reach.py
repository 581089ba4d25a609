"""Each entrypoint is compiled from the modules it can reach (gateway/policy/reach.py,
ADR 0062): what reaches what, read from the syntax and erring on the side of more; and a
module no entrypoint reaches is still compiled, so an error in it still rejects the revision."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from gateway.config import REPO_POLICY_DIR
from gateway.domain.subjects import Subject
from gateway.policy import inputs
from gateway.policy.embedded import compile_policy
from gateway.policy.engine import AUTHZ_DECISION, LOG_MASK, SCOPE_VIEW
from gateway.policy.reach import bundles, reach
from gateway.policy.sources import PolicyLoadError


def _modules(**by_name: str) -> dict[str, str]:
    return {f"{name}.rego": text for name, text in by_name.items()}


def test_the_shipped_entrypoints_reach_their_own_packages_only() -> None:
    compiled = compile_policy(REPO_POLICY_DIR)
    assert compiled.modules_of(SCOPE_VIEW) == ("gateway/scope/view.rego",)
    authz = compiled.modules_of(AUTHZ_DECISION)
    assert "gateway/scope/view.rego" in authz  # authz reads data.gateway.scope.view
    assert all(m.startswith(("gateway/authz/", "gateway/scope/")) for m in authz)
    assert set(compiled.modules_of(LOG_MASK)) == {"system/log/mask.rego", "system/log/drop.rego"}


def test_data_references_and_imports_reach_the_packages_they_name() -> None:
    modules = _modules(
        entry="package app\nallow if data.lib.ok\nx if { import_free := 1; import_free == 1 }",
        lib="package lib\nok if data.deep.inner.v == 1",
        deep="package deep.inner\nv := 1",
        aliased="package app2\nimport data.helpers as h\nallow if h.yes",
        helpers="package helpers\nyes := true",
        quoted='package app3\nallow if data["lib"].ok',
        dotted='package app4\nallow if data.pkg["a.b"].ok',
        dotted_lib='package pkg["a.b"]\nok := true',
        unrelated="package other\nz := 2",
    )
    assert reach("app/allow", modules) == {"entry.rego", "lib.rego", "deep.rego"}
    assert reach("app2/allow", modules) == {"aliased.rego", "helpers.rego"}
    assert reach("app3/allow", modules) == {"quoted.rego", "lib.rego", "deep.rego"}
    assert reach("app4/allow", modules) == {"dotted.rego", "dotted_lib.rego"}  # a key with a dot


def test_a_reference_after_a_key_named_like_a_keyword_still_reaches() -> None:
    """Found in review: `data.blocklist…` on the line after `input.package` was read as a
    package clause and left out, so the smaller bundle turned a deny into an allow."""
    modules = _modules(
        entry="package e\n\ndenied if {\n\tname := input.package\n"
        "\tdata.blocklist.packages[name]\n}",
        blocklist='package blocklist\n\npackages contains "evil-pkg"',
    )
    assert reach("e/denied", modules) == set(modules)


def test_a_document_tree_is_taken_whole() -> None:
    """A package above or below the one named builds the same document (a rule `b.extra` in
    package `a` and package `a.b` both define data.a.b), and a package above holds every
    package below it."""
    modules = _modules(
        entry="package a.b\nallow if data.a.b.sub.v",
        child="package a.b.sub\nv := true",
        sibling="package a.c\nw := 1",
    )
    assert reach("a/b/allow", modules) == {"entry.rego", "child.rego"}
    modules["parent.rego"] = "package a\nb.extra := 1"
    assert reach("a/b/allow", modules) == set(modules)


def test_a_reference_without_a_static_key_reaches_everything() -> None:
    modules = _modules(
        entry="package app\nallow if { some k; data[k].ok }",
        other="package other\nok := true",
        far="package far.away\nv := 1",
    )
    assert reach("app/allow", modules) == set(modules)
    whole = _modules(entry="package app\nn := count(data)", other="package other\nok := 1")
    assert reach("app/n", whole) == set(whole)


def test_modules_no_entrypoint_reaches_are_named() -> None:
    modules = _modules(entry="package app\nallow := true", orphan="package orphan\nv := 1")
    groups, unreached = bundles(("app/allow",), modules)
    assert groups == {frozenset({"entry.rego"}): ("app/allow",)}
    assert unreached == {"orphan.rego"}


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, target, ignore=shutil.ignore_patterns("*_test.rego"))
    return target


def test_an_error_in_a_module_nothing_reaches_still_rejects_the_revision(policies: Path) -> None:
    (policies / "gateway" / "orphan.rego").write_text(
        "package gateway.orphan\n\nbroken if {\n\tx := \n}\n"
    )
    with pytest.raises(PolicyLoadError) as refused:
        compile_policy(policies)
    assert "orphan.rego" in str(refused.value)


def test_an_entrypoint_answers_the_same_from_its_own_bundle(policies: Path) -> None:
    """A rule the scope reads, added in a module of another package it imports: reached."""
    (policies / "gateway" / "scope" / "extra.rego").write_text(
        "package gateway.scope\n\nimport data.gateway.scopehelp\n\nextra_flag := scopehelp.flag\n"
    )
    (policies / "gateway" / "scopehelp.rego").write_text(
        'package gateway.scopehelp\n\nflag := "from another package"\n'
    )
    compiled = compile_policy(policies)
    assert "gateway/scopehelp.rego" in compiled.modules_of(SCOPE_VIEW)
    doc = msgspec.json.encode(
        inputs.SubjectInput(
            subject=Subject(id="bob", email="bob@example.com"),
            request=inputs.RequestInfo(method="GET", path="/v1/mcp-servers", req_id="r-1"),
        )
    )
    assert compiled.query(SCOPE_VIEW, doc)["user_ids"] == ["bob"]


def test_import_of_the_whole_data_document_is_refused_not_fatal(policies: Path) -> None:
    """Found in review: rego-cpp 1.5 aborts the process compiling `import data` (OPA accepts
    it), so a reload would take the gateway down. The loader refuses it by name first."""
    module = "package gateway.extra\n\nimport data\n\nok if data.gateway.scope.view\n"
    crash = subprocess.run(
        [sys.executable, "-c", f"from regopy import Interpreter\ni = Interpreter()\n"
         f"i.add_module('e.rego', {module!r})\ni.build(None, ['gateway/extra/ok'])"],
        capture_output=True, check=False, timeout=60,
    )  # fmt: skip
    assert crash.returncode == -signal.SIGABRT  # why the loader must refuse it first
    (policies / "gateway" / "extra.rego").write_text(module)
    with pytest.raises(PolicyLoadError, match=r"extra\.rego:3: `import data`"):
        compile_policy(policies)
    (policies / "gateway" / "extra.rego").write_text(
        module.replace("import data", "import data as d").replace("data.gateway", "d.gateway")
    )
    assert "gateway/extra.rego" not in compile_policy(policies).modules_of(SCOPE_VIEW)
