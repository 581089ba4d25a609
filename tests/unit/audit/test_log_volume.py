"""One subject cannot push everyone else's records out of the log (issue 24): a user's huge
server arguments are cut (the record says where), and a flood of decisions beyond the
subject's budget is summed up in one record instead of written one by one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest
import pytest_asyncio

from gateway.audit.masking import Masker
from gateway.audit.memory_log import MemoryDecisionLog
from gateway.audit.recorder import AuditRecorder
from gateway.audit.volume import SUPPRESSED_PATH, SubjectVolume
from gateway.audit.writer import DEFAULT_MAX_INPUT_BYTES, AuditWriter
from gateway.config import REPO_POLICY_DIR
from gateway.domain.subjects import Subject
from gateway.policy import inputs
from gateway.policy.decider import Authorizer
from gateway.policy.embedded import EmbeddedRegoEngine

BOB = Subject(id="bob", email="bob@example.com")
MALLORY = Subject(id="mallory", email="mallory@example.com")
LOG_BYTES = 16 * 1024 * 1024  # the finding's log: 16 MiB


@pytest.fixture(scope="module")
def engine() -> EmbeddedRegoEngine:
    return EmbeddedRegoEngine(REPO_POLICY_DIR)


@pytest_asyncio.fixture
async def authorizer(engine: EmbeddedRegoEngine) -> AsyncIterator[Authorizer]:
    # The gateway's defaults (gateway/config.py), on a 16 MiB memory log.
    writer = AuditWriter(
        MemoryDecisionLog(max_bytes=LOG_BYTES),
        Masker(engine),
        max_input_bytes=DEFAULT_MAX_INPUT_BYTES,
        volume=SubjectVolume(subject_bytes=1024 * 1024, subject_records=600),
    )
    writer.start()
    yield Authorizer(engine, AuditRecorder(writer, labels={"id": "test"}))
    await writer.aclose()


def _log(authorizer: Authorizer) -> MemoryDecisionLog:
    recorder = authorizer._recorder
    assert isinstance(recorder, AuditRecorder) and isinstance(
        recorder.writer.log, MemoryDecisionLog
    )
    return recorder.writer.log


async def _victims_denial(authorizer: Authorizer) -> str:
    theirs = inputs.MCPServerResource(id="mcp_a", source="personal", user_id="alice", name="x")
    decision = await authorizer.decide("mcp_server.update", BOB, theirs, theirs)
    return decision.decision_id


async def test_huge_arguments_are_cut_and_leave_others_records(authorizer: Authorizer) -> None:
    victim = await _victims_denial(authorizer)
    # The finding: 64 x 4 KB arguments, PATCHed 40 times, wrote 481 KB records.
    args = [f"--opt{i}=" + "x" * 4096 for i in range(64)]
    mine = inputs.MCPServerResource(
        id="mcp_m",
        source="personal",
        user_id="mallory",
        name="big",
        transport="stdio",
        command="npx",
        args=args,
    )
    for _ in range(40):
        await authorizer.decide("mcp_server.update", MALLORY, mine, mine)
    log = _log(authorizer)
    recorder = authorizer._recorder
    assert isinstance(recorder, AuditRecorder)
    assert await recorder.writer.flush(10)
    assert await log.get(victim) is not None  # bob's record is still there
    floods = [r for r in log.records() if r.subject_id == "mallory"]
    assert len(floods) == 40
    first = floods[0]
    assert first.cut_reason == "input_size" and first.input_bytes and first.input_bytes > 256_000
    assert first.cut and all(
        p.startswith(("/input/resource/args/", "/input/proposed/args/")) for p in first.cut
    )
    assert all(len(msgspec.json.encode(r.input)) <= DEFAULT_MAX_INPUT_BYTES for r in floods)
    # The repeats reach the caps as the engine's JSON (the mask had nothing to do the first
    # time, so it leaves them undecoded): cut the same way, and past the subject's budget
    # down to the skeleton that still names who asked.
    sized = [r for r in floods if r.cut_reason == "input_size"]
    assert len(sized) > 1 and all(r.cut == first.cut for r in sized)
    over = [r for r in floods if r.cut_reason == "subject_volume"]
    assert over and all(r.input["subject"] == {"id": "mallory"} for r in over)
    assert log.size_bytes < 2 * 1024 * 1024
    assert (await log.verify()).ok


async def test_a_flood_of_list_decisions_is_summed_up_not_written_one_by_one(
    authorizer: Authorizer,
) -> None:
    victim = await _victims_denial(authorizer)
    # The finding: one tools/list of 3,000 tools wrote 3,005 records; three emptied the log.
    tool = inputs.MCPServerResource(id="mcp_t", source="personal", user_id="mallory", name="t")
    for _ in range(3 * 3000):
        await authorizer.decide("tool.call", MALLORY, tool)
    recorder = authorizer._recorder
    assert isinstance(recorder, AuditRecorder)
    assert await recorder.writer.flush(30)
    log = _log(authorizer)
    assert await log.get(victim) is not None
    mallorys = [r for r in log.records() if r.subject_id == "mallory"]
    assert len(mallorys) == 600
    assert recorder.writer.snapshot().suppressed == 9000 - 600
    # The window closes: one record says what was not written one by one.
    volume = recorder.writer._volume
    assert volume is not None
    summaries = volume.due(now=10**12)
    assert [s.path for s in summaries] == [SUPPRESSED_PATH]
    assert summaries[0].result["suppressed"] == 8400
    assert summaries[0].result["actions"] == {"tool.call": 8400}
