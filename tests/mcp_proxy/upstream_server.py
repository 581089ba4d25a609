"""An upstream MCP server for the proxy's tests: FastMCP from the `mcp` SDK, over Streamable
HTTP or SSE, on the port given. Every HTTP request it receives is appended to `--requests`
(method, path and the `authorization` header) so a test can see what the gateway sent; without
`--requests` nothing is recorded (the bench harness's upstream, bench/harness/scenarios/mcp.py)."""

from __future__ import annotations

import argparse
import json
from typing import Any

import uvicorn
from mcp.server.fastmcp import FastMCP
from mcp.types import ToolAnnotations


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", choices=["streamable_http", "sse"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--requests")
    args = parser.parse_args()
    name = args.name
    mcp = FastMCP(name, host="127.0.0.1", port=args.port)

    @mcp.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def read_file(path: str) -> str:
        """Read a file."""
        return f"{name} read {path}"

    @mcp.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=True))
    def delete_file(path: str) -> str:
        """Delete a file."""
        return f"{name} deleted {path}"

    app = mcp.streamable_http_app() if args.transport == "streamable_http" else mcp.sse_app()

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and args.requests:
            headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            line = {
                "method": scope["method"],
                "path": scope["path"],
                "authorization": headers.get("authorization"),
            }
            with open(args.requests, "a") as out:  # noqa: ASYNC230 (a test's small log line)
                out.write(json.dumps(line) + "\n")
        await app(scope, receive, send)

    uvicorn.run(recording, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
