"""/mcp as an operator sees it: `/metrics` counts its traffic under `route="/mcp"` and by MCP
method (it was all under `route=""`), every request leaves one access line (with the MCP
method), and a client that goes away mid-call is no ERROR in the log (it was a traceback)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
import pytest_asyncio

from gateway.config import Settings
from tests.fixtures.gateway import token_for
from tests.mcp_proxy.client import api, mcp_session
from tests.mcp_proxy.peers import ServedGateway, Upstream, served_gateway, upstreams

pytestmark = pytest.mark.parametrize("store_mode", ["memory"], indirect=True)


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Upstream]:
    with upstreams(tmp_path, ("files", "streamable_http")) as [started]:
        yield started


@pytest_asyncio.fixture
async def proxy(gateway_settings: Settings, files: Upstream) -> AsyncIterator[ServedGateway]:
    settings = msgspec.structs.replace(gateway_settings, allow_private_upstreams=True)
    with served_gateway(settings) as gateway:
        async with api(gateway.base_url, "alice") as alice:
            body = {"name": "files", "transport": "streamable_http", "url": files.url}
            assert (await alice.post("/v1/mcp-servers", json=body)).status_code == 201
        yield gateway


def _sample(text: str, series: str) -> float:
    line = next((line for line in text.splitlines() if line.startswith(series + " ")), None)
    return float(line.split()[-1]) if line else 0.0


async def test_metrics_name_the_mcp_route_and_method(proxy: ServedGateway) -> None:
    calls = 'gateway_mcp_requests_total{mcp_method="tools/call",status="200"}'
    async with httpx.AsyncClient(base_url=proxy.base_url) as client:
        before = _sample((await client.get("/metrics")).text, calls)  # a process-wide registry
        async with mcp_session(proxy.mcp_url, "alice") as alice:
            await alice.list_tools()
            await alice.call_tool("files__read_file", {"path": "/tmp/a"})
        text = (await client.get("/metrics")).text
    assert 'gateway_http_requests_total{method="POST",route="/mcp",status="200"}' in text
    assert 'route=""' not in text
    assert _sample(text, calls) == before + 1
    assert 'gateway_mcp_requests_total{mcp_method="tools/list",status="200"}' in text


async def test_each_request_leaves_one_access_line(
    proxy: ServedGateway, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        async with mcp_session(proxy.mcp_url, "alice") as alice:
            await alice.call_tool("files__read_file", {"path": "/tmp/a"})
        async with api(proxy.base_url, "alice") as rest:
            await rest.get("/v1/mcp-servers")
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.access"]
    assert any(
        line.startswith("POST /mcp 200 ") and line.endswith("mcp=tools/call") for line in lines
    ), lines
    assert any(line.startswith("GET /v1/mcp-servers 200 ") for line in lines), lines


async def test_a_client_that_goes_away_mid_call_is_no_error(
    proxy: ServedGateway, caplog: pytest.LogCaptureFixture
) -> None:
    call = {
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "files__big_answer", "arguments": {"size": 10, "delay": 1.0}},
    }  # fmt: skip
    headers = {
        "Accept": "application/json, text/event-stream",
        "Authorization": f"Bearer {token_for('alice')}",
    }
    with caplog.at_level(logging.INFO):
        async with httpx.AsyncClient(base_url=proxy.base_url) as client:
            pending = asyncio.create_task(client.post("/mcp", json=call, headers=headers))
            await asyncio.sleep(0.3)
            pending.cancel()  # the client goes away, the connection closes
            with pytest.raises(asyncio.CancelledError):
                await pending
        await asyncio.sleep(1.5)  # the call ends upstream; the gateway notices the client left
        async with mcp_session(proxy.mcp_url, "alice") as alice:  # and still serves
            assert (await alice.list_tools()).tools
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    # The abandoned call still finished upstream and left its access line.
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.access"]
    assert any(line.endswith("mcp=tools/call") for line in lines), lines
