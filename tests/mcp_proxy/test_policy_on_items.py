"""The policy decides which tools, resources and prompts exist and which calls, reads and
gets go through, on both engines: a deny rule removes a tool, a resource or a prompt from
its list and refuses its use with the reasons and the decision id; a rule on a call's
`arguments` (or a get's) refuses one and lets another through."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from mcp import MCPError

from gateway.config import REPO_POLICY_DIR, Settings
from gateway.mcp_proxy.decisions import POLICY_DENIED
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

deny contains {"code": "no_hello", "message": "the hello memo is private"} if {
\tinput.action == "resource.read"
\tendswith(input.resource.mcp_resource.uri, "/hello")
}

deny contains {"code": "no_reviews", "message": "code review prompts are off"} if {
\tinput.action == "prompt.get"
\tinput.resource.prompt.name == "review"
}

deny contains {"code": "be_kind", "message": "greet people by name only"} if {
\tinput.action == "prompt.get"
\tcontains(input.resource.prompt.arguments.person, "idiot")
}
"""


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Upstream]:
    with upstreams(tmp_path, ("files", "streamable_http")) as [started]:
        yield started


def _with_rules(tmp_path: Path) -> Path:
    policies = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, policies, ignore=shutil.ignore_patterns("*_test.rego"))
    (policies / "gateway" / "authz" / "item_rules.rego").write_text(RULES)
    return policies


def _refusal(refused: pytest.ExceptionInfo[MCPError], records: list, code: str) -> None:
    error = refused.value
    assert error.code == POLICY_DENIED
    assert isinstance(error.data, dict)
    assert [r["code"] for r in error.data["reasons"]] == [code]
    # The decision id is the logged decision's: an auditor finds the refusal.
    [record] = [r for r in records if r.decision_id == error.data["decision_id"]]
    assert record.allowed is False


@pytest.mark.parametrize("store_mode", ["memory"], indirect=True)
async def test_deny_rules_remove_items_and_refuse_their_use(
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
            tools = (await session.list_tools()).tools
            allowed = await session.call_tool("files__read_file", {"path": "/tmp/a"})
            with pytest.raises(MCPError) as removed:
                await session.call_tool("files__delete_file", {"path": "/tmp/a"})
            with pytest.raises(MCPError) as outside:
                await session.call_tool("files__read_file", {"path": "/etc/passwd"})
            resources = (await session.list_resources()).resources
            templates = (await session.list_resource_templates()).resource_templates
            memo = await session.read_resource("mcpgw://files/memo://files/rust")
            with pytest.raises(MCPError) as hello:
                await session.read_resource("mcpgw://files/memo://files/hello")
            prompts = (await session.list_prompts()).prompts
            greeting = await session.get_prompt("files__greet", {"person": "Ada"})
            with pytest.raises(MCPError) as rude:
                await session.get_prompt("files__greet", {"person": "you idiot"})
            with pytest.raises(MCPError) as review:
                await session.get_prompt("files__review", {"code": "x", "language": "go"})
        records = await gateway.decision_records()

    assert sorted(t.name for t in tools) == [
        "files__big_answer", "files__echo_headers", "files__read_file"
    ]  # fmt: skip
    assert allowed.content[0].text == "files read /tmp/a"  # type: ignore[union-attr]
    _refusal(removed, records, "no_deletes")
    _refusal(outside, records, "outside_tmp")
    # The hello memo is gone from the list; the template (memo://files/{topic}) is not.
    assert [str(r.uri) for r in resources] == []
    assert [t.uri_template for t in templates] == ["mcpgw://files/memo://files/{topic}"]
    assert memo.contents[0].uri == "mcpgw://files/memo://files/rust"
    _refusal(hello, records, "no_hello")
    assert [p.name for p in prompts] == ["files__greet"]
    assert "Ada" in greeting.messages[0].content.text  # type: ignore[union-attr]
    _refusal(rude, records, "be_kind")
    _refusal(review, records, "no_reviews")
    # What was refused never reached the upstream; what was allowed did.
    seen = files.requests_path.read_text()
    assert "/tmp/a" in seen and "Ada" in seen
    assert "/etc/passwd" not in seen and "idiot" not in seen and "language" not in seen
    # Issue 24: a tool filtered out of tools/list is not a refused call: `purpose` says which.
    deletes = [
        r for r in records
        if r.action == "tool.call" and r.input["resource"]["tool"]["name"] == "delete_file"
    ]  # fmt: skip
    assert [(r.purpose, r.allowed) for r in deletes] == [("list", False), ("call", False)]
