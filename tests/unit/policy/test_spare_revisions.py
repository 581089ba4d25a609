"""What one process reuses of the same policy files (ADR 0060): an engine that closes hands
its compiled revision to the next engine opened on the same files, never to two at once, and
refuses to evaluate once closed; Rego test outcomes are kept by revision, and a changed file
is evaluated afresh."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import pytest

from gateway.config import REPO_POLICY_DIR
from gateway.domain.subjects import Subject
from gateway.errors import BackendUnavailable
from gateway.policy import inputs
from gateway.policy.embedded import EmbeddedRegoEngine
from gateway.policy.engine import AUTHZ_DECISION
from gateway.policy.rego_tests import run_policy_tests
from gateway.policy.sources import PolicyLoadError

DOC = msgspec.json.encode(
    inputs.PolicyInput(
        action="mcp_server.create",
        subject=Subject(id="bob", email="bob@example.com"),
        resource=None,
        request=inputs.RequestInfo(method="POST", path="/v1/mcp-servers", req_id="r-1"),
        context=inputs.DecisionContext(),
    )
)


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, target, ignore=shutil.ignore_patterns("*_test.rego"))
    return target


async def test_a_closed_engines_revision_goes_to_the_next_engine_only(policies: Path) -> None:
    first = EmbeddedRegoEngine(policies, poll_seconds=0)
    answer = await first.evaluate(AUTHZ_DECISION, DOC)
    held = first._compiled
    beside = EmbeddedRegoEngine(policies, poll_seconds=0)  # while `first` is open: its own
    assert beside._compiled is not held
    await first.aclose()

    with pytest.raises(BackendUnavailable, match="closed"):  # fail closed, never a shared one
        await first.evaluate(AUTHZ_DECISION, DOC)
    with pytest.raises(BackendUnavailable, match="closed"):
        first.evaluate_sync(AUTHZ_DECISION, DOC)
    second = EmbeddedRegoEngine(policies, poll_seconds=0)
    third = EmbeddedRegoEngine(policies, poll_seconds=0)
    try:
        assert second._compiled is held  # taken by one engine...
        assert third._compiled is not held  # ...and by that one only
        again = await second.evaluate(AUTHZ_DECISION, DOC)
        assert (again.result, again.revision) == (answer.result, answer.revision)
    finally:
        for engine in (beside, second, third):
            await engine.aclose()


async def test_a_changed_directory_is_compiled_and_checked_again(policies: Path) -> None:
    first = EmbeddedRegoEngine(policies, poll_seconds=0)
    await first.aclose()
    (policies / "gateway" / "authz" / "typo.rego").write_text(
        'package gateway.authz\n\ndeny contains "x" if {\n\tinput.proposed.transprt == "stdio"\n}\n'
    )
    with pytest.raises(PolicyLoadError, match="transprt"):  # the checks ran: not the spare
        EmbeddedRegoEngine(policies, poll_seconds=0)


def test_rego_test_outcomes_follow_the_files(tmp_path: Path) -> None:
    shutil.copytree(REPO_POLICY_DIR, copy := tmp_path / "copy")
    passed = run_policy_tests(copy, run="authz_test")
    assert passed and all(t.passed for t in passed)
    again = run_policy_tests(copy, run="authz_test")  # kept: the same results, same paths
    assert again == passed
    (copy / "gateway" / "authz" / "broken_test.rego").write_text(
        "package gateway.authz_test\n\ntest_never_true if {\n\t1 == 2\n}\n"
    )
    failed = [t for t in run_policy_tests(copy, run="authz_test") if not t.passed]
    assert [t.name for t in failed] == ["test_never_true"]
    assert failed[0].failed_at and str(copy) in failed[0].location  # explained afresh
