"""Runs every `test_*` rule under policies/ through the embedded engine (regopy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import REPO_POLICY_DIR
from gateway.policy.rego_tests import PolicyTestResult, run_policy_tests

RESULTS = run_policy_tests(REPO_POLICY_DIR)


def test_the_policies_have_tests() -> None:
    assert len(RESULTS) >= 25
    assert {r.package for r in RESULTS} >= {
        "gateway.authz_test",
        "gateway.scope_test",
        "gateway.accounts_test",
        "gateway.marketplace_test",
    }


@pytest.mark.parametrize("result", RESULTS, ids=lambda r: f"{r.package}.{r.name}")
def test_rego(result: PolicyTestResult) -> None:
    assert result.passed, result.output


def test_the_runner_reports_false_undefined_and_erroring_tests(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text("package p\n\nx := 1\n")
    (tmp_path / "p_test.rego").write_text(
        "package p_test\n\nimport data.p\n\n"
        "test_true if p.x == 1\n\n"
        "test_false if p.x == 2\n\n"
        "test_undefined if p.nope\n\n"
        'test_error if {\n\tp.x with input.a as 1\n\tsum("not a list") == 1\n}\n'
    )
    results = {r.name: r.passed for r in run_policy_tests(tmp_path)}
    assert results == {
        "test_true": True,
        "test_false": False,
        "test_undefined": False,
        "test_error": False,
    }


def test_the_input_schema_is_generated_from_the_structs() -> None:
    import msgspec

    from gateway.policy.inputs import input_schema

    generated = msgspec.json.decode(msgspec.json.encode(input_schema()))
    committed = msgspec.json.decode((REPO_POLICY_DIR / "schemas" / "input.json").read_bytes())
    assert committed == generated, "run: gateway policy schema --write policies/schemas"
    # One file: OPA loads every JSON file under the policy directory as data.
    assert [p.name for p in (REPO_POLICY_DIR / "schemas").iterdir()] == ["input.json"]
