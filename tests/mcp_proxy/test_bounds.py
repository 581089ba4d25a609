"""Issue 21's findings on /mcp, each reproduced against the gateway over real HTTP: one
user cannot hold every admission slot, a deep body is a parse error (not a 500), a 30 MB
upstream answer is refused with the gateway's memory bounded, and a credential changed while
a client keeps calling reaches the next call."""

from __future__ import annotations

import asyncio
import json
import resource
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import pytest_asyncio
from mcp import MCPError

from gateway.config import Settings
from tests.fixtures.gateway import token_for
from tests.mcp_proxy.client import api, mcp_session
from tests.mcp_proxy.peers import ServedGateway, Upstream, served_gateway, upstreams

pytestmark = pytest.mark.parametrize("store_mode", ["memory"], indirect=True)
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Upstream]:
    with upstreams(tmp_path, ("files", "streamable_http")) as [started]:
        yield started


@pytest_asyncio.fixture
async def proxy(gateway_settings: Settings) -> AsyncIterator[ServedGateway]:
    settings = msgspec.structs.replace(
        gateway_settings,
        allow_private_upstreams=True,
        max_concurrent_requests=8,
        mcp_max_inflight_per_user=2,
        mcp_max_response_bytes=1024 * 1024,
    )
    with served_gateway(settings) as gateway:
        yield gateway


async def _server(gateway: ServedGateway, files: Upstream, **extra: Any) -> dict[str, Any]:
    async with api(gateway.base_url, "alice") as alice:
        body = {"name": "files", "transport": "streamable_http", "url": files.url, **extra}
        created = await alice.post("/v1/mcp-servers", json=body)
    assert created.status_code == 201, created.text
    result: dict[str, Any] = created.json()
    return result


def _call(name: str, arguments: dict[str, Any], id_: int = 1) -> dict[str, Any]:
    params = {"name": name, "arguments": arguments}
    return {"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": params}


async def test_one_users_open_requests_hold_no_one_elses_slot(
    proxy: ServedGateway, files: Upstream
) -> None:
    """Was: 256 held `GET /mcp` streams (or slow calls) of one user made every request of
    every user a 503. Now a GET is a 405 at once, and one user's requests in flight are
    capped below the admission limit."""
    await _server(proxy, files)
    alice = {**ACCEPT, "Authorization": f"Bearer {token_for('alice')}"}
    bob = {"Authorization": f"Bearer {token_for('bob')}"}
    async with httpx.AsyncClient(base_url=proxy.base_url, timeout=30) as client:
        for _ in range(20):  # no stream is held open: each GET is answered at once
            assert (await client.get("/mcp", headers=alice)).status_code == 405
        slow = _call("files__big_answer", {"size": 10, "delay": 1.5})
        calls = [
            asyncio.create_task(client.post("/mcp", json=slow, headers=alice)) for _ in range(10)
        ]
        await asyncio.sleep(0.5)  # alice's calls are in flight, the ones over her cap refused
        bobs = [await client.get("/v1/mcp-servers", headers=bob) for _ in range(5)]
        alices = await asyncio.gather(*calls)
    assert [b.status_code for b in bobs] == [200] * 5  # never refused for alice's load
    # Two of alice's ten are served (her cap); the others are refused at once: 429 by her cap
    # (or 503 by admission for those that arrived while all eight slots were briefly taken).
    statuses = sorted(a.status_code for a in alices)
    assert statuses[:2] == [200, 200] and set(statuses[2:]) <= {429, 503} and 429 in statuses
    refused = next(a for a in alices if a.status_code == 429)
    assert refused.json()["error"]["code"] == -32005
    assert refused.headers["retry-after"] == "1"


async def test_json_nested_deeper_than_the_limit_is_a_parse_error_not_a_500(
    proxy: ServedGateway,
) -> None:
    deep = "[" * 20_000 + "]" * 20_000
    body = (
        '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":%s}}}'
    )
    headers = {**ACCEPT, "Authorization": f"Bearer {token_for('alice')}"}
    async with httpx.AsyncClient(base_url=proxy.base_url, timeout=30) as client:
        answer = await client.post("/mcp", content=body % deep, headers=headers)
        shallow = await client.post("/mcp", content=body % "[[1]]", headers=headers)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == -32700
    assert shallow.status_code == 200  # an unknown tool's error, decided normally


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


async def test_a_30_mb_answer_is_refused_and_memory_stays_bounded(
    proxy: ServedGateway, files: Upstream
) -> None:
    """Was: a 30 MB tool answer took the gateway from 850 to 1,237 MiB. The gateway runs in
    this process (on a thread), so its RSS is ours."""
    await _server(proxy, files)
    async with mcp_session(proxy.mcp_url, "alice") as alice:
        await alice.call_tool("files__big_answer", {"size": 1000})  # warm up the client
        before = _rss_kib()
        with pytest.raises(MCPError) as refused:
            await alice.call_tool("files__big_answer", {"size": 30 * 1024 * 1024})
        grown = _rss_kib() - before
        after = await alice.call_tool("files__big_answer", {"size": 1000})
    assert "more than 1048576 bytes" in refused.value.message
    assert grown < 3 * 1024, f"RSS grew {grown} KiB for a refused 30 MB answer"
    assert after.is_error is False  # the same server still answers
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0


async def test_a_credential_changed_between_calls_reaches_the_next_call(
    proxy: ServedGateway, files: Upstream
) -> None:
    """Was: after a credential re-PUT (v1 -> v2), an open session kept sending v1."""
    server = await _server(proxy, files, headers={"X-Api-Key": "${FILES_KEY}"}, env=["FILES_KEY"])
    path = f"/v1/mcp-servers/{server['id']}/credentials"
    async with api(proxy.base_url, "alice") as rest, mcp_session(proxy.mcp_url, "alice") as mcp:
        assert (await rest.put(path, json={"values": {"FILES_KEY": "v1-key"}})).status_code == 200
        first = await mcp.call_tool("files__echo_headers", {})
        assert (await rest.put(path, json={"values": {"FILES_KEY": "v2-key"}})).status_code == 200
        second = await mcp.call_tool("files__echo_headers", {})
    assert json.loads(first.content[0].text)["x-api-key"] == "v1-key"  # type: ignore[union-attr]
    assert json.loads(second.content[0].text)["x-api-key"] == "v2-key"  # type: ignore[union-attr]
