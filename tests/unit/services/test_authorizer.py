"""The Authorizer records every decision completely and applies the answer; anything but a
well-formed answer is a deny, an engine failure a 503."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from gateway.audit.masking import Masker
from gateway.audit.memory_log import MemoryDecisionLog
from gateway.audit.recorder import AuditRecorder
from gateway.audit.records import DecisionRecord
from gateway.audit.writer import AuditWriter
from gateway.config import REPO_POLICY_DIR
from gateway.domain.subjects import Membership, Subject
from gateway.errors import BackendUnavailable, Denied, NotFound
from gateway.policy import inputs
from gateway.policy.decider import Authorizer
from gateway.policy.embedded import EmbeddedRegoEngine

ALICE = Subject(id="alice", email="alice@example.com")
BOB = Subject(
    id="bob",
    email="bob@example.com",
    memberships={"ent_1": Membership(role="member", kind="organization")},
)
MINE = inputs.MCPServerResource(id="mcp_1", source="personal", user_id="alice", name="files")
MANAGED = inputs.MCPServerResource(
    id="emcp_1", source="enterprise", enterprise_id="ent_1", auto_enabled=True
)

# The shipped policy's one `decision` rule, replaced by these tests for one action.
DECISION_RULE = (
    'decision := object.union({"allow": _allowed, "visible": visible, "reasons": reasons}, '
    "_approval_part)"
)


@pytest.fixture(scope="module")
def engine() -> EmbeddedRegoEngine:
    return EmbeddedRegoEngine(REPO_POLICY_DIR)


@pytest.fixture
def log() -> MemoryDecisionLog:
    return MemoryDecisionLog()


@pytest_asyncio.fixture
async def writer(engine: EmbeddedRegoEngine, log: MemoryDecisionLog) -> AsyncIterator[AuditWriter]:
    started = AuditWriter(log, Masker(engine))
    started.start()
    yield started
    await started.aclose()


@pytest.fixture
def recorder(engine: EmbeddedRegoEngine, writer: AuditWriter) -> AuditRecorder:
    return AuditRecorder(writer, labels={"engine": engine.name})


@pytest.fixture
def authorizer(engine: EmbeddedRegoEngine, recorder: AuditRecorder) -> Authorizer:
    return Authorizer(engine, recorder, new_id=iter(f"d{i}" for i in range(100)).__next__)


def _authorizer(engine: EmbeddedRegoEngine) -> Authorizer:
    writer = AuditWriter(MemoryDecisionLog(), Masker(engine))
    return Authorizer(engine, AuditRecorder(writer, labels={}))


async def _records(writer: AuditWriter, log: MemoryDecisionLog) -> list[DecisionRecord]:
    assert await writer.flush()
    return log.records()


async def test_a_decision_is_recorded_with_its_indexed_fields(
    authorizer: Authorizer, recorder: AuditRecorder, writer: AuditWriter, log: MemoryDecisionLog
) -> None:
    with recorder.request_scope("PATCH", "/v1/mcp-servers/emcp_1", "r-1"):
        decision = await authorizer.decide("mcp_server.update", BOB, MANAGED, MANAGED)
    assert (decision.allow, decision.visible, decision.decision_id) == (False, True, "d0")
    (record,) = await _records(writer, log)
    assert (record.decision_id, record.req_id, record.subject_id) == ("d0", "r-1", "bob")
    assert (record.action, record.resource_id, record.enterprise_id) == (
        "mcp_server.update",
        "emcp_1",
        "ent_1",
    )
    assert record.allowed is False
    assert record.input["request"]["method"] == "PATCH"
    assert record.input["proposed"]["id"] == "emcp_1"
    assert record.result["reasons"][0]["code"] == "enterprise_managed"
    # OPA's decision-log shape: the path with slashes, the revision under bundles.
    assert record.path == "gateway/authz/decision"
    assert record.bundles["gateway"].revision == authorizer.engine.revision
    assert record.labels["engine"] == "embedded"
    assert (record.http.method, record.http.path) == ("PATCH", "/v1/mcp-servers/emcp_1")
    assert (record.seq, record.prev_hash) == (1, "0" * 64)


async def test_require_turns_invisible_into_404_and_refused_into_403(
    authorizer: Authorizer,
) -> None:
    with pytest.raises(NotFound):
        await authorizer.require("mcp_server.read", BOB, MINE, what="server")
    with pytest.raises(Denied) as denied:
        await authorizer.require("mcp_server.delete", BOB, MANAGED, what="server")
    assert denied.value.reasons[0]["code"] == "enterprise_managed"
    assert denied.value.decision_id == "d1"
    assert (await authorizer.require("mcp_server.read", ALICE, MINE, what="server")).allow


async def test_env_var_names_reach_the_input_never_values(
    authorizer: Authorizer, writer: AuditWriter, log: MemoryDecisionLog
) -> None:
    await authorizer.decide("mcp_server.credentials.set", ALICE, MINE, env_vars=["B", "A"])
    assert (await _records(writer, log))[0].input["request"]["env_vars"] == ["A", "B"]


async def test_a_missing_resource_is_decided_then_404(
    authorizer: Authorizer, writer: AuditWriter, log: MemoryDecisionLog
) -> None:
    missing = inputs.missing(inputs.MCPServerResource, "mcp_9")
    with pytest.raises(NotFound):
        await authorizer.missing("mcp_server.read", ALICE, missing, what="server")
    (record,) = await _records(writer, log)
    assert record.input["resource"]["exists"] is False
    assert record.resource_id == "mcp_9"


def _policy(tmp_path: Path, decision: str) -> Path:
    """The shipped policy with `decision` replaced for mcp_server.create only (the load-time
    probe asks mcp_server.read, so the policy loads)."""
    root = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, root, ignore=shutil.ignore_patterns("*_test.rego"))
    path = root / "gateway" / "authz" / "decision.rego"
    assert DECISION_RULE in path.read_text()  # else the replacement below does nothing
    text = path.read_text().replace(
        DECISION_RULE,
        f'decision := {decision} if input.action == "mcp_server.create"\n\n'
        f"{DECISION_RULE} "
        'if input.action != "mcp_server.create"',
    )
    path.write_text(text)
    return root


@pytest.mark.parametrize(
    "answer",
    [
        '{"allow": "yes", "visible": true, "reasons": []}',
        '{"allow": true, "visible": true}',
        '{"allow": true, "visible": true, "reasons": [{"code": 1}]}',
    ],
)
async def test_a_malformed_answer_is_an_invisible_deny(tmp_path: Path, answer: str) -> None:
    engine = EmbeddedRegoEngine(_policy(tmp_path, answer))
    decision = await _authorizer(engine).decide("mcp_server.create", ALICE, MINE, MINE)
    assert (decision.allow, decision.visible) == (False, False)
    assert [r.code for r in decision.reasons] == ["policy_error"]


async def test_an_engine_error_is_backend_unavailable(tmp_path: Path) -> None:
    # Two values for one complete rule: a conflict at evaluation time.
    root = _policy(tmp_path, '{"allow": true, "visible": true, "reasons": []}')
    (root / "gateway" / "authz" / "conflict.rego").write_text(
        "package gateway.authz\n\n"
        'decision := {"allow": false, "visible": true, "reasons": []} '
        'if input.action == "mcp_server.create"\n'
    )
    engine = EmbeddedRegoEngine(root)
    with pytest.raises(BackendUnavailable):
        await _authorizer(engine).decide("mcp_server.create", ALICE, MINE, MINE)
