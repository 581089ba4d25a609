"""Human approval of tool calls (docs/adr/0057-tool-integrity.md), through the official MCP
SDK client on both engines: an approval rule makes a call wait (an MCP error naming the
approval); an approver's allow lets exactly that call through, once; a changed argument
needs an approval of its own; a refused approval is a denial; an expired one is refused and
a new one asked for. The decision log joins the call's decisions and the approver's by ids."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from mcp import MCPError

from gateway.config import REPO_POLICY_DIR, Settings
from gateway.mcp_proxy.decisions import APPROVAL_REQUIRED, POLICY_DENIED
from tests.mcp_proxy.client import api, mcp_session
from tests.mcp_proxy.peers import Upstream, served_gateway, upstreams

RULES = [
    {"tool": "delete_file", "approvers": {"user_ids": ["sam"]}, "ttl_seconds": 300},
    {"tool": "big_answer", "approvers": {"user_ids": ["sam"]}, "ttl_seconds": 2},
]


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Upstream]:
    with upstreams(tmp_path, ("files", "streamable_http")) as [started]:
        yield started


def _with_rules(tmp_path: Path) -> Path:
    policies = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, policies, ignore=shutil.ignore_patterns("*_test.rego"))
    data_file = policies / "gateway" / "data.json"
    data = json.loads(data_file.read_text())
    data["approvals"]["tools"] = RULES
    data_file.write_text(json.dumps(data))
    return policies


async def _waits(session: Any, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call; the call must wait for an approval: its error's data."""
    with pytest.raises(MCPError) as waiting:
        await session.call_tool(tool, arguments)
    assert waiting.value.code == APPROVAL_REQUIRED, waiting.value.message
    assert isinstance(waiting.value.data, dict)
    assert waiting.value.data["approval_id"] in waiting.value.message
    return waiting.value.data


def _codes(data: dict[str, Any]) -> list[str]:
    return sorted(r["code"] for r in data["reasons"])


@pytest.mark.parametrize("store_mode", ["memory", "redis", "cluster"], indirect=True)
async def test_an_approved_call_passes_once_and_only_as_approved(
    tmp_path: Path, gateway_settings: Settings, files: Upstream, opa_server: type
) -> None:
    policies = _with_rules(tmp_path)
    if gateway_settings.opa_url:  # the same rules on a real OPA
        engine = {"opa_url": opa_server(policies).url}
    else:
        engine = {"policy_dir": str(policies)}
    settings = msgspec.structs.replace(gateway_settings, allow_private_upstreams=True, **engine)
    with served_gateway(settings) as gateway:
        async with api(gateway.base_url, "alice") as alice:
            body = {"name": "files", "transport": "streamable_http", "url": files.url}
            assert (await alice.post("/v1/mcp-servers", json=body)).status_code == 201
        sam, bob = api(gateway.base_url, "sam"), api(gateway.base_url, "bob")
        alice = api(gateway.base_url, "alice")
        async with mcp_session(gateway.mcp_url, "alice") as session, sam, bob, alice:
            listed = sorted(t.name for t in (await session.list_tools()).tools)
            first = await _waits(session, "files__delete_file", {"path": "/tmp/a"})
            again = await _waits(session, "files__delete_file", {"path": "/tmp/a"})
            a1 = first["approval_id"]
            seen_by_sam = (await sam.get("/v1/approvals")).json()["items"]
            seen_by_bob = (await bob.get("/v1/approvals")).json()["items"]
            by_alice = await alice.post(f"/v1/approvals/{a1}/allow")
            allowed = await sam.post(f"/v1/approvals/{a1}/allow")
            twice = await sam.post(f"/v1/approvals/{a1}/refuse")

            other = await _waits(session, "files__delete_file", {"path": "/tmp/b"})
            passed = await session.call_tool("files__delete_file", {"path": "/tmp/a"})
            used = await _waits(session, "files__delete_file", {"path": "/tmp/a"})
            a1_after = (await alice.get(f"/v1/approvals/{a1}")).json()

            refused = await sam.post(f"/v1/approvals/{other['approval_id']}/refuse")
            with pytest.raises(MCPError) as denied:
                await session.call_tool("files__delete_file", {"path": "/tmp/b"})

            slow = await _waits(session, "files__big_answer", {"size": 3})
            assert (await sam.post(f"/v1/approvals/{slow['approval_id']}/allow")).is_success
            await asyncio.sleep(2.2)  # the rule's ttl is 2 s
            expired = await _waits(session, "files__big_answer", {"size": 3})
        records = await gateway.decision_records()

    # A tool whose calls need approval is listed; the call waits, the retry names the same one.
    assert "files__delete_file" in listed
    assert _codes(first) == ["approval_required"]
    assert again["approval_id"] == a1
    assert _codes(again) == ["approval_pending", "approval_required"]
    # The approver sees it (with the call's arguments); others do not; who asked cannot allow.
    [shown] = [a for a in seen_by_sam if a["id"] == a1]
    assert shown["arguments"] == {"path": "/tmp/a"} and shown["user_id"] == "alice"
    assert shown["state"] == "pending" and shown["tool"] == "delete_file"
    assert seen_by_bob == []
    assert by_alice.status_code == 404
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["state"] == "allowed" and allowed.json()["decided_by"] == "sam"
    assert twice.status_code == 409  # decided once

    # Bound to the exact call: another argument waits on an approval of its own.
    assert other["approval_id"] != a1
    assert passed.content[0].text == "files deleted /tmp/a"  # type: ignore[union-attr]
    # Once: the identical call again needs a new approval.
    assert used["approval_id"] not in (a1, other["approval_id"])
    assert _codes(used) == ["approval_required", "approval_used"]
    assert a1_after["state"] == "used"

    assert refused.status_code == 200
    assert denied.value.code == POLICY_DENIED
    assert isinstance(denied.value.data, dict)
    assert [r["code"] for r in denied.value.data["reasons"]] == ["approval_refused"]

    # Expired before it was used: refused, and a new approval asked for.
    assert expired["approval_id"] != slow["approval_id"]
    assert _codes(expired) == ["approval_expired", "approval_required"]

    # The upstream ran exactly the one approved call.
    calls = [r["body"] for r in files.requests() if '"tools/call"' in r.get("body", "")]
    assert [c for c in calls if "delete_file" in c and "/tmp/" in c] == [
        c for c in calls if "/tmp/a" in c
    ]
    assert len([c for c in calls if "delete_file" in c]) == 1
    assert not [c for c in calls if "big_answer" in c]

    # The log, joined by ids: the call that asked, the approver's decision, the call that
    # used it (its input names the approval).
    by_id = {r.decision_id: r for r in records}
    asked = by_id[first["decision_id"]]
    assert asked.action == "tool.call" and asked.allowed is False
    assert a1_after["decision_id"] == first["decision_id"]
    decided = by_id[a1_after["decided_decision_id"]]
    assert decided.action == "approval.decide" and decided.allowed is True
    assert decided.subject_id == "sam" and decided.input["resource"]["id"] == a1
    ran = by_id[a1_after["used_decision_id"]]
    assert ran.action == "tool.call" and ran.allowed is True
    assert ran.input["resource"]["tool"]["approval"]["id"] == a1
    assert ran.input["resource"]["tool"]["approval"]["state"] == "allowed"
