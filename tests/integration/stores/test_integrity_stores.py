"""The tool-integrity stores (docs/adr/0057-tool-integrity.md), one contract on every
backend: a pin is written once on first sight (the first writer wins), a change or an
approval is a compare-and-set on the value read, and an approval is used once even when two
replicas try at the same moment."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from gateway.domain.approvals import Approval, Approvers
from gateway.domain.tool_pins import ToolDefinition, ToolPin
from gateway.stores.approvals import ApprovalStore, MemoryApprovalStore
from gateway.stores.redis.approvals import RedisApprovalStore
from gateway.stores.redis.tool_pins import RedisToolPinStore
from gateway.stores.tool_pins import MemoryToolPinStore, ToolPinStore
from tests.integration.stores.test_store_contract import backend, redis_of  # noqa: F401

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
def pins(backend: str, request: pytest.FixtureRequest) -> ToolPinStore:  # noqa: F811
    if backend == "memory":
        return MemoryToolPinStore()
    return RedisToolPinStore(redis_of(backend, request))


@pytest.fixture
def approvals(backend: str, request: pytest.FixtureRequest) -> ApprovalStore:  # noqa: F811
    if backend == "memory":
        return MemoryApprovalStore()
    return RedisApprovalStore(redis_of(backend, request))


def _pin(tool: str, fingerprint: str) -> ToolPin:
    definition = ToolDefinition(
        fingerprint=fingerprint,
        fields={"description": fingerprint},
        definition={"name": tool, "input_schema": {"type": "object", "x": 1.5}},
    )
    return ToolPin(tool=tool, pinned=definition, pinned_at=NOW)


async def test_first_sight_pins_once_and_reads_what_was_asked(pins: ToolPinStore) -> None:
    first = await pins.pin_new("mcp_1", [_pin("read", "a" * 64), _pin("write", "b" * 64)])
    # Another replica saw a different definition at the same time: the first pin stays.
    second = await pins.pin_new("mcp_1", [_pin("read", "c" * 64)])
    read = await pins.read({"mcp_1": ["read", "gone"], "mcp_2": ["read"]})
    assert first["read"].pinned.fingerprint == "a" * 64
    assert second["read"].pinned.fingerprint == "a" * 64
    assert read == {"mcp_1": {"read": first["read"]}, "mcp_2": {}}
    assert sorted(await pins.all("mcp_1")) == ["read", "write"]
    assert await pins.all("mcp_2") == {}


async def test_a_pin_moves_only_from_the_value_read(pins: ToolPinStore) -> None:
    [stored] = (await pins.pin_new("mcp_1", [_pin("read", "a" * 64)])).values()
    changed = msgspec.structs.replace(stored, changed=_pin("read", "d" * 64).pinned)
    assert await pins.replace("mcp_1", stored, changed)
    approved = _pin("read", "d" * 64)
    assert not await pins.replace("mcp_1", stored, approved)  # stale: what it read moved
    assert await pins.replace("mcp_1", changed, approved)
    assert (await pins.all("mcp_1"))["read"] == approved


def _approval(approval_id: str, binding: str, state: str = "pending") -> Approval:
    return Approval(
        id=approval_id,
        state=state,  # type: ignore[arg-type]
        user_id="alice",
        server_id="mcp_1",
        server_name="files",
        enterprise_id=None,
        tool="delete_file",
        arguments={"path": "/tmp/a"},
        arguments_sha256="0" * 64,
        binding=binding,
        approvers=Approvers(user_ids=("sam",)),
        reasons=["needs approval"],
        created_at=datetime.now(UTC),
        expires_at=datetime.now(UTC) + timedelta(minutes=5),
        decision_id="d-1",
    )


async def test_an_approval_is_found_by_its_call_and_used_once(approvals: ApprovalStore) -> None:
    older = _approval("apr_01", "b" * 64)
    newer = _approval("apr_02", "b" * 64)
    other = _approval("apr_03", "c" * 64)
    for approval in (older, newer, other):
        await approvals.create(approval)
    assert await approvals.for_binding("b" * 64) == newer  # the newest for that call
    assert await approvals.get("apr_01") == older
    assert await approvals.get("apr_99") is None
    assert [a.id for a in await approvals.recent()] == ["apr_03", "apr_02", "apr_01"]

    allowed = msgspec.structs.replace(newer, state="allowed", decided_by="sam")
    assert await approvals.replace(newer, allowed)
    assert not await approvals.replace(newer, allowed)  # decided once
    used = msgspec.structs.replace(allowed, state="used", used_decision_id="d-2")
    # Two replicas use it at once: exactly one wins.
    won = await asyncio.gather(*(approvals.replace(allowed, used) for _ in range(5)))
    assert sorted(won) == [False, False, False, False, True]
    assert await approvals.get("apr_02") == used
