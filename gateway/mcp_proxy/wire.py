"""The answers `/mcp` gives before the SDK reads a request (wrong method, body too large or
too deep, too many in flight): JSON-RPC error objects, as every MCP client reads them, built
in this one place."""

from __future__ import annotations

import msgspec
from litestar.types import Send
from mcp import types

# Implementation-defined server errors (JSON-RPC leaves -32000..-32099 to the server).
BUSY = -32005


class _Error(msgspec.Struct):
    code: int
    message: str


class _Answer(msgspec.Struct):
    error: _Error
    jsonrpc: str = "2.0"
    id: None = None


async def refuse(
    send: Send,
    status: int,
    code: int,
    message: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = msgspec.json.encode(_Answer(error=_Error(code=code, message=message)))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


PARSE_ERROR = types.PARSE_ERROR
INVALID_REQUEST = types.INVALID_REQUEST
