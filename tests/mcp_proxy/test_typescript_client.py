"""The official TypeScript SDK's client (installed by scripts/mcp-sdk-ts, run on the
machine's Node.js) lists and calls tools through the gateway exactly as the Python one does:
its own and its enterprise's tools, a denied call as an MCP error with reasons and decision id,
and never the secret the upstream receives."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.config import REPO_POLICY_DIR, Settings
from gateway.mcp_proxy.decisions import POLICY_DENIED
from tests.fixtures.gateway import token_for
from tests.mcp_proxy.peers import served_gateway, upstreams
from tests.mcp_proxy.test_proxy import SECRET, TOOLS, setup_world

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("ts_client.mjs")
NO_DELETES = """package gateway.authz

deny contains {"code": "no_deletes", "message": "deleting tools are off"} if {
\tinput.action == "tool.call"
\tinput.resource.tool.name == "delete_file"
}
"""


@pytest.fixture(scope="session")
def ts_sdk() -> str:
    done = subprocess.run(
        [str(REPO / "scripts" / "mcp-sdk-ts")], capture_output=True, text=True, timeout=300
    )
    if done.returncode == 3:
        pytest.skip("no Node.js here for the TypeScript MCP client")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def _run_ts(sdk: str, url: str, user: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        "node", str(DRIVER), url, token_for(user), json.dumps(calls),
        env={**os.environ, "MCP_SDK_DIR": sdk},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    assert SECRET not in out.decode()  # nothing the client received carries the secret
    parsed: dict[str, Any] = json.loads(out)
    return parsed


@pytest.mark.parametrize("store_mode", ["memory"], indirect=True)
async def test_the_typescript_client_lists_and_calls_through_the_gateway(
    tmp_path: Path, gateway_settings: Settings, ts_sdk: str, opa_server: type
) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, policies, ignore=shutil.ignore_patterns("*_test.rego"))
    (policies / "gateway" / "authz" / "no_deletes.rego").write_text(NO_DELETES)
    if gateway_settings.opa_url:
        engine = {"opa_url": opa_server(policies).url}
    else:
        engine = {"policy_dir": str(policies)}
    settings = msgspec.structs.replace(gateway_settings, allow_private_upstreams=True, **engine)
    with (
        upstreams(
            tmp_path, ("files", "streamable_http"), ("wiki", "sse"), ("bobs", "streamable_http")
        ) as peers,
        served_gateway(settings) as gateway,
    ):
        await setup_world(gateway, *peers)
        calls = [
            {"name": "files__read_file", "arguments": {"path": "/tmp/x"}},
            {"name": "wiki__read_file", "arguments": {"path": "/a.md"}},
            {"name": "files__delete_file", "arguments": {"path": "/tmp/x"}},
        ]
        seen = await _run_ts(ts_sdk, gateway.mcp_url, "alice", calls)
        records = await gateway.decision_records()

    assert seen["protocolVersion"] >= "2025-06-18"
    # Every tool of both servers but the deleting ones (the rule removes them from the list).
    assert sorted(t["name"] for t in seen["tools"]) == [
        f"{server}__{tool}"
        for server in ("files", "wiki")
        for tool in TOOLS
        if tool != "delete_file"
    ]
    read, wiki, delete = seen["calls"]
    assert read["result"]["content"] == [{"type": "text", "text": "files read /tmp/x"}]
    assert wiki["result"]["content"] == [{"type": "text", "text": "wiki read /a.md"}]
    assert delete["error"]["code"] == POLICY_DENIED
    assert delete["error"]["data"]["reasons"] == [
        {"code": "no_deletes", "message": "deleting tools are off"}
    ]
    assert delete["error"]["data"]["decision_id"] in {r.decision_id for r in records}
    assert {r["authorization"] for r in peers[0].requests()} == {f"Bearer {SECRET}"}
