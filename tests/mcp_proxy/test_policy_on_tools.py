"""The policy decides which tools exist and which calls go through: a deny rule removes a
tool from tools/list and refuses its call; a rule on `arguments` refuses one call and lets
another through. And the proxy connects to no internal address unless allowed."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from mcp import McpError

from gateway.config import REPO_POLICY_DIR, Settings
from gateway.mcp_proxy.decisions import POLICY_DENIED
from gateway.mcp_proxy.network import UpstreamRefused, guarded_client
from tests.mcp_proxy.client import api, mcp_session
from tests.mcp_proxy.peers import Upstream, served_gateway, upstreams

RULES = """package gateway.authz

deny contains {"code": "no_deletes", "message": "deleting tools are off"} if {
\tinput.action == "tool.call"
\tinput.resource.tool.name == "delete_file"
}

deny contains {"code": "outside_tmp", "message": "only paths under /tmp/"} if {
\tinput.action == "tool.call"
\tis_string(input.resource.tool.arguments.path)
\tnot startswith(input.resource.tool.arguments.path, "/tmp/")
}
"""


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Upstream]:
    with upstreams(tmp_path, ("files", "streamable_http")) as [started]:
        yield started


def _with_rules(tmp_path: Path) -> Path:
    policies = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, policies, ignore=shutil.ignore_patterns("*_test.rego"))
    (policies / "gateway" / "authz" / "tool_rules.rego").write_text(RULES)
    return policies


@pytest.mark.parametrize("store_mode", ["memory"], indirect=True)
async def test_deny_rules_remove_tools_and_refuse_calls(
    tmp_path: Path,
    gateway_settings: Settings,
    files: Upstream,
    opa_server: type,
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
        async with mcp_session(gateway.mcp_url, "alice") as session:
            listed = await session.list_tools()
            allowed = await session.call_tool("files__read_file", {"path": "/tmp/a"})
            with pytest.raises(McpError) as removed:
                await session.call_tool("files__delete_file", {"path": "/tmp/a"})
            with pytest.raises(McpError) as outside:
                await session.call_tool("files__read_file", {"path": "/etc/passwd"})
        records = await gateway.decision_records()

    assert [t.name for t in listed.tools] == ["files__read_file"]
    assert allowed.content[0].text == "files read /tmp/a"  # type: ignore[union-attr]
    for refused, code in ((removed, "no_deletes"), (outside, "outside_tmp")):
        error = refused.value.error
        assert error.code == POLICY_DENIED
        assert isinstance(error.data, dict)
        assert [r["code"] for r in error.data["reasons"]] == [code]
        # The decision id is the logged decision's: an auditor finds the refusal.
        [record] = [r for r in records if r.decision_id == error.data["decision_id"]]
        assert record.action == "tool.call" and record.allowed is False
    # The refused calls never reached the upstream: it saw only the allowed one.
    calls = [r for r in files.requests() if r["method"] == "POST"]
    assert len(calls) >= 1
    assert "/etc/passwd" not in files.requests_path.read_text()


async def test_the_guard_refuses_internal_addresses_unless_allowed(files: Upstream) -> None:
    refused = guarded_client(allow_private=False, timeout=httpx.Timeout(5))
    allowed = guarded_client(allow_private=True, timeout=httpx.Timeout(5))
    async with refused, allowed:
        with pytest.raises(httpx.ConnectError) as caught:
            await refused.get(files.url)
        # A name is resolved and its address checked: `localhost` is 127.0.0.1 too.
        with pytest.raises(httpx.ConnectError):
            await refused.get(files.url.replace("127.0.0.1", "localhost"))
        reached = await allowed.get(files.url)
    assert isinstance(caught.value.__cause__ or caught.value.__context__, UpstreamRefused)
    assert "loopback" in str(caught.value)
    assert reached.status_code != 0  # the upstream answered (whatever MCP says to a GET)
    assert files.requests()  # and saw only the allowed client's request
    assert len(files.requests()) == 1
