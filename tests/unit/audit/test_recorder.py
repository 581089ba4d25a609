"""The one rule for a decision's record (gateway/audit/recorder.py): attached to the request
it was taken for and queued with the response's status; queued at once outside a request;
written before it takes effect when logging is required. And the Authorizer needs nothing
of the log but the recorder port (gateway/policy/recording.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from gateway.audit import scope
from gateway.audit.masking import Masker
from gateway.audit.memory_log import MemoryDecisionLog
from gateway.audit.recorder import AuditRecorder
from gateway.audit.scope import current
from gateway.audit.writer import AuditWriter
from gateway.config import REPO_POLICY_DIR
from gateway.domain.requests import NO_REQUEST, RequestInfo
from gateway.domain.subjects import Subject
from gateway.policy import inputs
from gateway.policy.decider import Authorizer
from gateway.policy.embedded import EmbeddedRegoEngine
from gateway.policy.recording import Decided

ALICE = Subject(id="alice", email="alice@example.com")
MINE = inputs.MCPServerResource(id="mcp_1", source="personal", user_id="alice", name="files")


@pytest.fixture(scope="module")
def engine() -> EmbeddedRegoEngine:
    return EmbeddedRegoEngine(REPO_POLICY_DIR)


def _ids() -> Callable[[], str]:
    return iter(f"d{i}" for i in range(100)).__next__


@pytest_asyncio.fixture(params=[False, True], ids=["queued", "required"])
async def recorder(
    request: pytest.FixtureRequest, engine: EmbeddedRegoEngine
) -> AsyncIterator[AuditRecorder]:
    writer = AuditWriter(MemoryDecisionLog(), Masker(engine), required=request.param)
    writer.start()
    yield AuditRecorder(writer, labels={"id": "test"})
    await writer.aclose()


async def _logged(recorder: AuditRecorder) -> list[tuple[str, int | None]]:
    assert await recorder.writer.flush()
    log = recorder.writer.log
    assert isinstance(log, MemoryDecisionLog)
    return [(r.decision_id, r.http.status) for r in log.records()]


async def test_inside_a_request_records_wait_for_the_response_status(
    engine: EmbeddedRegoEngine, recorder: AuditRecorder
) -> None:
    authorizer = Authorizer(engine, recorder, new_id=_ids())
    with recorder.request_scope("GET", "/v1/mcp-servers/mcp_1", "r-1") as served:
        await authorizer.decide("mcp_server.read", ALICE, MINE)
        await authorizer.decide("mcp_server.update", ALICE, MINE, MINE)
        assert served.decision_ids == ["d0", "d1"]
        # Required: already written before it took effect, with no status (not known yet).
        before = await _logged(recorder)
        assert before == ([("d0", None), ("d1", None)] if recorder.writer.required else [])
        settled = recorder.responded(served, 200)
        assert settled == "d1"  # the last decision settled the request: X-Decision-Id
        assert served.records == []
    logged = await _logged(recorder)
    if recorder.writer.required:
        assert logged == [("d0", None), ("d1", None)]  # never a second copy
    else:
        assert logged == [("d0", 200), ("d1", 200)]


async def test_a_request_that_never_responds_still_logs_what_it_decided(
    engine: EmbeddedRegoEngine, recorder: AuditRecorder
) -> None:
    authorizer = Authorizer(engine, recorder, new_id=_ids())
    with pytest.raises(RuntimeError), recorder.request_scope("GET", "/x", "r-2"):
        await authorizer.decide("mcp_server.read", ALICE, MINE)
        raise RuntimeError("the client went away")
    assert await _logged(recorder) == [("d0", None)]


async def test_outside_any_request_a_record_is_queued_at_once(
    engine: EmbeddedRegoEngine, recorder: AuditRecorder
) -> None:
    authorizer = Authorizer(engine, recorder, new_id=_ids())
    assert current() is None and recorder.request() == NO_REQUEST
    await authorizer.decide("mcp_server.read", ALICE, MINE)
    assert await _logged(recorder) == [("d0", None)]


async def test_a_scope_entered_inside_another_replaces_it_until_it_ends(
    recorder: AuditRecorder,
) -> None:
    # An MCP session's task inherits the HTTP request that opened it: each message is served
    # in a scope of its own, and the inherited one is back afterwards.
    with recorder.request_scope("POST", "/mcp", "opening"):
        with recorder.request_scope("POST", "/mcp", "message"):
            assert recorder.request().req_id == "message"
        assert recorder.request().req_id == "opening"
    assert current() is None


async def test_reads_ahead_only_when_asked(recorder: AuditRecorder) -> None:
    with recorder.request_scope("POST", "/v1/x", "w"):
        scope.remember({"k": b"v"})
        assert not scope.reading_ahead() and scope.recall(["k"]) is None
    with recorder.request_scope("GET", "/v1/x", "r", read_ahead=True):
        scope.remember({"k": b"v"})
        assert scope.recall(["k"]) == [b"v"]
        assert scope.recall(["k"]) is None  # each value is used once


class _ListRecorder:
    """A recorder that keeps what it is given: the port is all the Authorizer needs."""

    def __init__(self) -> None:
        self.decided: list[Decided] = []

    def request(self) -> RequestInfo:
        return RequestInfo(method="DELETE", path="/v1/mcp-servers/mcp_1", req_id="r-9")

    def ensure_writable(self) -> None:
        return None

    async def record(self, decided: Decided) -> None:
        self.decided.append(decided)


async def test_the_authorizer_hands_every_decision_to_its_recorder(
    engine: EmbeddedRegoEngine,
) -> None:
    kept = _ListRecorder()
    authorizer = Authorizer(engine, kept, new_id=_ids())
    decision = await authorizer.decide("mcp_server.delete", ALICE, MINE)
    (decided,) = kept.decided
    assert (decided.decision_id, decided.action, decided.allowed) == (
        "d0",
        "mcp_server.delete",
        True,
    )
    assert decision.allow and decided.request.req_id == "r-9"
    assert (decided.subject_id, decided.resource_id, decided.revision) == (
        "alice",
        "mcp_1",
        engine.revision,
    )
    assert b'"req_id":"r-9"' in decided.input  # input.request came from the recorder
