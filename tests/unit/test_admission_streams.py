"""An MCP client's long-lived notification stream (GET /mcp) is admitted but holds no
admission slot: otherwise a few idle MCP sessions would refuse every other request."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.api.edge.admission import admission_middleware


async def test_an_open_mcp_stream_holds_no_slot() -> None:
    release = asyncio.Event()
    sent: list[tuple[str, int]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["method"] == "GET":
            await release.wait()  # the stream stays open
        sent.append((scope["path"], 200))

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            sent.append(("refused", message["status"]))

    wrap, stats = admission_middleware(1)
    gated = wrap(app)

    def scope(method: str, path: str) -> dict[str, Any]:
        return {"type": "http", "method": method, "path": path}

    stream = asyncio.create_task(gated(scope("GET", "/mcp"), None, send))
    await asyncio.sleep(0)
    assert stats.in_flight == 0
    await gated(scope("POST", "/v1/mcp-servers"), None, send)
    assert sent == [("/v1/mcp-servers", 200)]
    # An ordinary request still holds its slot: with one in flight the next is refused.
    hold = asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await hold.wait()

    gated_slow = wrap(slow)
    busy = asyncio.create_task(gated_slow(scope("POST", "/mcp"), None, send))
    await asyncio.sleep(0)
    assert stats.in_flight == 1
    await gated(scope("GET", "/v1/mcp-servers"), None, send)
    assert sent[-1] == ("refused", 503)
    hold.set()
    release.set()
    await asyncio.gather(stream, busy)
    assert stats.in_flight == 0
