"""/mcp with real peers: FastMCP upstreams over Streamable HTTP and SSE in processes of their
own, the gateway over real HTTP, and the Python SDK's client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import pytest_asyncio
from mcp import MCPError

from gateway.config import REPO_POLICY_DIR, Settings
from gateway.policy.inputs import MCPServerResource, schema_for
from tests.fixtures.gateway import token_for
from tests.fixtures.policies import input_validator
from tests.mcp_proxy.client import api, mcp_session
from tests.mcp_proxy.peers import (
    ServedGateway,
    Upstream,
    served_gateway,
    upstreams,
)

pytestmark = pytest.mark.parametrize("store_mode", ["memory", "redis"], indirect=True)

SECRET = "s3cret-token-of-alice"
TOOLS = ("big_answer", "delete_file", "echo_headers", "read_file")  # upstream_server.py's
SCHEMA_FILE = REPO_POLICY_DIR / "schemas" / "input.json"


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[list[Upstream]]:
    with upstreams(
        tmp_path, ("files", "streamable_http"), ("wiki", "sse"), ("bobs", "streamable_http")
    ) as started:
        yield started


@pytest_asyncio.fixture
async def proxy(gateway_settings: Settings) -> AsyncIterator[ServedGateway]:
    settings = msgspec.structs.replace(
        gateway_settings, allow_private_upstreams=True, mcp_upstream_timeout_seconds=5.0
    )
    with served_gateway(settings) as gateway:
        yield gateway


async def _create(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def setup_world(gateway: ServedGateway, files: Upstream, wiki: Upstream, bobs: Upstream):
    """alice: a personal server `files` with a secret header; member of Acme, whose
    auto-enabled `wiki` is in her view. bob: his own `bobs`."""
    async with (
        api(gateway.base_url, "alice") as alice,
        api(gateway.base_url, "olga") as olga,
        api(gateway.base_url, "bob") as bob,
    ):
        mine = await _create(
            alice,
            "/v1/mcp-servers",
            {
                "name": "files",
                "transport": "streamable_http",
                "url": files.url,
                "headers": {"Authorization": "Bearer ${FILES_TOKEN}"},
                "env": ["FILES_TOKEN"],
            },
        )
        put = await alice.put(
            f"/v1/mcp-servers/{mine['id']}/credentials", json={"values": {"FILES_TOKEN": SECRET}}
        )
        assert put.status_code == 200, put.text
        acme = await _create(olga, "/v1/enterprises", {"name": "Acme"})
        await _create(
            olga,
            f"/v1/enterprise/mcp-servers?enterprise_id={acme['id']}",
            {"name": "wiki", "transport": "sse", "url": wiki.url, "auto_enabled": True},
        )
        invited = await olga.put(
            f"/v1/enterprises/{acme['id']}/members/alice", json={"role": "member"}
        )
        assert invited.status_code == 202, invited.text
        assert (await alice.post(f"/v1/invitations/{acme['id']}/accept")).status_code == 200
        theirs = {"name": "bobs", "transport": "streamable_http", "url": bobs.url}
        await _create(bob, "/v1/mcp-servers", theirs)
    return mine


async def test_a_user_sees_their_own_and_their_enterprises_tools_never_another_users(
    proxy: ServedGateway, peers: list[Upstream]
) -> None:
    await setup_world(proxy, *peers)

    async with mcp_session(proxy.mcp_url, "alice") as alice:
        listed = await alice.list_tools()
        called = await alice.call_tool("wiki__read_file", {"path": "/docs/a.md"})
    async with mcp_session(proxy.mcp_url, "bob") as bob:
        bobs = await bob.list_tools()

    assert sorted(t.name for t in listed.tools) == [
        f"{server}__{tool}" for server in ("files", "wiki") for tool in TOOLS
    ]
    assert called.is_error is False
    assert called.content[0].text == "wiki read /docs/a.md"  # type: ignore[union-attr]
    assert sorted(t.name for t in bobs.tools) == [f"bobs__{tool}" for tool in TOOLS]
    read = next(t for t in listed.tools if t.name == "files__read_file")
    assert read.annotations is not None and read.annotations.read_only_hint is True


async def test_the_upstream_gets_the_secret_header_and_the_client_never_does(
    proxy: ServedGateway, peers: list[Upstream]
) -> None:
    files = peers[0]
    await setup_world(proxy, *peers)

    async with mcp_session(proxy.mcp_url, "alice") as alice:
        seen = [
            (await alice.list_tools()).model_dump_json(),
            (await alice.call_tool("files__read_file", {"path": "/tmp/x"})).model_dump_json(),
            (await alice.list_resources()).model_dump_json(),
            (await alice.read_resource("mcpgw://files/memo://files/hello")).model_dump_json(),
            (await alice.list_prompts()).model_dump_json(),
            (await alice.get_prompt("files__greet", {"person": "Ada"})).model_dump_json(),
        ]

    assert "files read /tmp/x" in seen[1]
    assert all(SECRET not in text for text in seen)
    sent = {r["authorization"] for r in files.requests()}
    assert sent == {f"Bearer {SECRET}"}  # every request the upstream received carried it
    records = await proxy.decision_records()
    assert all(SECRET not in msgspec.json.encode(r).decode() for r in records)
    calls = [r for r in records if r.action == "tool.call"]
    assert calls and all(r.subject_id == "alice" for r in calls)
    # The input contract (tests/api/test_policy_input_contract.py), for the MCP actions.
    validator = input_validator(schema_for(MCPServerResource, json.loads(SCHEMA_FILE.read_text())))
    mcp = [r for r in records if r.action in {"tool.call", "resource.read", "prompt.get"}]
    assert {r.action for r in mcp} == {"tool.call", "resource.read", "prompt.get"}
    for record in mcp:
        validator.validate(record.input)
    for record in calls:
        assert record.input["resource"]["tool"]["name"] in TOOLS
    read = next(
        r
        for r in mcp
        if r.action == "resource.read"
        and r.input["resource"]["mcp_resource"]["uri"] == "memo://files/hello"  # the upstream's
        and r.input["resource"]["name"] == "files"
    )
    assert read.input["resource"]["mcp_resource"]["mime_type"] == "text/plain"
    got = next(
        r for r in mcp if r.action == "prompt.get" and r.input["resource"]["prompt"]["arguments"]
    )
    assert got.input["resource"]["prompt"] | {"description": None} == {
        "name": "greet", "title": None, "description": None, "argument_names": ["person"],
        "arguments": {"person": "Ada"},
    }  # fmt: skip
    call = next(r for r in calls if r.input["resource"]["tool"]["arguments"] is not None)
    assert call.input["resource"]["tool"]["arguments"] == {"path": "/tmp/x"}
    assert call.input["resource"]["tool"]["annotations"]["read_only_hint"] is True


async def test_one_upstream_down_leaves_the_others_working(
    proxy: ServedGateway, peers: list[Upstream]
) -> None:
    wiki = peers[1]
    await setup_world(proxy, *peers)
    wiki.stop()

    async with mcp_session(proxy.mcp_url, "alice") as alice:
        listed = await alice.list_tools()
        called = await alice.call_tool("files__read_file", {"path": "/tmp/x"})
        with pytest.raises(MCPError) as failed:
            await alice.call_tool("wiki__read_file", {"path": "/a"})

    assert sorted(t.name for t in listed.tools) == [f"files__{tool}" for tool in TOOLS]
    assert listed.meta is not None
    [unavailable] = listed.meta["gateway/unavailable"]
    assert "wiki" in unavailable["message"] and "unavailable" in unavailable["message"]
    assert wiki.url not in unavailable["message"]  # no internals
    assert called.content[0].text == "files read /tmp/x"  # type: ignore[union-attr]
    assert "unavailable" in failed.value.message
    assert str(wiki.port) not in failed.value.message


async def test_without_a_token_it_is_a_401_with_www_authenticate(proxy: ServedGateway) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            proxy.mcp_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}},
            headers={"Accept": "application/json, text/event-stream"},
        )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].lower().startswith("bearer")


async def test_a_session_id_is_nothing_each_request_is_its_callers(
    proxy: ServedGateway, peers: list[Upstream]
) -> None:
    """Stateless (ADR 0051): `initialize` issues no session id, and a request carrying one —
    made up, or another user's — is served as its own bearer token's caller, on any replica."""
    await setup_world(proxy, *peers)
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    accept = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(timeout=10) as client:
        opened = await client.post(
            proxy.mcp_url,
            json=init,
            headers={**accept, "Authorization": f"Bearer {token_for('alice')}"},
        )
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        as_bob = await client.post(
            proxy.mcp_url,
            json=listing,
            headers={
                **accept,
                "Authorization": f"Bearer {token_for('bob')}",
                "mcp-session-id": "alices-or-anyones",
                "mcp-protocol-version": "2025-06-18",
            },
        )
    assert opened.status_code == 200 and "mcp-session-id" not in opened.headers
    assert opened.json()["result"]["protocolVersion"] == "2025-06-18"
    assert as_bob.status_code == 200
    names = sorted(t["name"] for t in as_bob.json()["result"]["tools"])
    assert names and all(n.startswith("bobs__") for n in names)


async def test_the_2026_07_28_revision_is_served_with_private_cacheable_lists(
    proxy: ServedGateway, peers: list[Upstream]
) -> None:
    await setup_world(proxy, *peers)
    async with mcp_session(proxy.mcp_url, "alice") as alice:
        assert alice.protocol_version == "2026-07-28"
        listed = await alice.list_tools()
        prompts = await alice.list_prompts()
    for result in (listed, prompts):
        assert (result.cache_scope, result.ttl_ms) == ("private", 10_000)
    # The transport's own check: headers must say what the body does (-32020, 400).
    envelope = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": envelope}}
    headers = {
        "Accept": "application/json, text/event-stream",
        "Authorization": f"Bearer {token_for('alice')}",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "prompts/list",
    }
    async with httpx.AsyncClient(timeout=10) as client:
        mismatch = await client.post(proxy.mcp_url, json=body, headers=headers)
        right = await client.post(
            proxy.mcp_url, json=body, headers={**headers, "Mcp-Method": "tools/list"}
        )
        call = {
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "files__read_file", "arguments": {"path": "/a"}, "_meta": envelope},
        }  # fmt: skip
        called = await client.post(
            proxy.mcp_url,
            json=call,
            headers={**headers, "Mcp-Method": "tools/call", "Mcp-Name": "files__read_file"},
        )
    assert mismatch.status_code == 400 and mismatch.json()["error"]["code"] == -32020
    assert right.status_code == 200 and right.json()["result"]["cacheScope"] == "private"
    # The answer is the gateway's, not the upstream's (its serverInfo stamp is replaced).
    stamp = called.json()["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]
    assert stamp["name"] == "mcp-policy-gateway" and stamp["version"]
