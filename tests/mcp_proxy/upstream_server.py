"""An upstream MCP server for the proxy's tests: `MCPServer` from the `mcp` SDK 2.x, over
Streamable HTTP or SSE, on the port given.

Tools `read_file(path)` (read-only) and `delete_file(path)` (destructive), `echo_headers()`
(the `Authorization` and `X-*` headers it received, as JSON: what credentials reached it) and
`big_answer(size)` (a text of `size` bytes); a static resource `memo://<name>/hello` and a
template `memo://<name>/{topic}`; prompts `greet(person)` and `review(code, language)`.
`--page-size N` pages every list N items at a time (cursors). `--descriptions FILE` (JSON,
tool name -> description) changes tools' descriptions while it runs (read at each list).

Streamable HTTP is served **stateless**: no `Mcp-Session-Id`, so any process of the same
`--name` answers any request (two of them can sit behind a load balancer); it speaks
2026-07-28 and every 2025 revision. A GET (the 2025 standalone stream, which a stateless
server never writes to) is a 405. `--json-response` answers POSTs with one JSON body instead
of an SSE stream (a client caps SSE events, not JSON bodies).

Every HTTP request it receives is appended to `--requests` (method, path and the
`authorization` header) so a test can see what the gateway sent; without `--requests` nothing
is recorded (the bench harness's upstream, bench/harness/scenarios/mcp.py).

`running(workdir, name, ...)` starts processes of it for a test (`Upstream`s), stopped after."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

# list method -> the (wire) field of its result that holds the items
LISTS = {
    "tools/list": "tools",
    "resources/list": "resources",
    "resources/templates/list": "resourceTemplates",
    "prompts/list": "prompts",
}


def build(name: str, page_size: int | None = None, descriptions: Path | None = None) -> MCPServer:
    mcp = MCPServer(name, version="2.0.0", log_level="WARNING")

    @mcp.tool(annotations=ToolAnnotations(read_only_hint=True))
    def read_file(path: str) -> str:
        """Read a file."""
        return f"{name} read {path}"

    @mcp.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True))
    def delete_file(path: str) -> str:
        """Delete a file."""
        return f"{name} deleted {path}"

    @mcp.tool(annotations=ToolAnnotations(read_only_hint=True))
    def echo_headers(ctx: Context) -> str:
        """The Authorization and X-* headers this server received, as a JSON object."""
        request = ctx.request_context.request
        headers = request.headers if request is not None else {}
        seen = {
            key.lower(): value
            for key, value in headers.items()
            if key.lower() == "authorization" or key.lower().startswith("x-")
        }
        return json.dumps(seen, sort_keys=True)

    @mcp.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def big_answer(size: int, delay: float = 0.0) -> str:
        """A text of `size` bytes, after `delay` seconds (a slow call, for load tests)."""
        await asyncio.sleep(delay)
        return "x" * size

    @mcp.resource(f"memo://{name}/hello", name="hello", mime_type="text/plain")
    def hello() -> str:
        return f"hello from {name}"

    @mcp.resource(f"memo://{name}/{{topic}}", name="memo", mime_type="text/plain")
    def memo(topic: str) -> str:
        return f"{name} memo on {topic}"

    @mcp.prompt()
    def greet(person: str) -> str:
        """Greet someone."""
        return f"{name} says hello to {person}"

    @mcp.prompt()
    def review(code: str, language: str) -> str:
        """Review a piece of code."""
        return f"{name} reviews this {language}: {code}"

    if descriptions is not None:
        mcp.middleware.append(_redescribe(descriptions))
    if page_size:
        mcp.middleware.append(_paginate(page_size))
    return mcp


def _redescribe(descriptions: Path) -> Any:
    """Middleware giving tools the descriptions in the JSON file `descriptions` (tool name ->
    text), read at each tools/list: a test changes a tool under the gateway's feet."""

    async def redescribe(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method != "tools/list" or result is None:
            return result
        new = await asyncio.to_thread(_read_json, descriptions)
        whole = result if isinstance(result, dict) else result.model_dump(by_alias=True)
        tools = [
            {**t, "description": new.get(t["name"], t.get("description"))} for t in whole["tools"]
        ]
        return {**whole, "tools": tools}

    return redescribe


def _read_json(path: Path) -> dict[str, str]:
    return json.loads(path.read_text()) if path.exists() else {}


def _paginate(size: int) -> Any:
    """Middleware cutting each list into pages of `size` (the cursor is the offset)."""

    async def paginate(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        field = LISTS.get(ctx.method)
        if field is None or result is None:
            return result
        whole = result if isinstance(result, dict) else result.model_dump(by_alias=True)
        cursor = (ctx.params or {}).get("cursor")
        start = int(cursor) if cursor else 0
        end = start + size
        page = {k: v for k, v in whole.items() if k != "nextCursor"}
        page[field] = whole[field][start:end]
        if end < len(whole[field]):
            page["nextCursor"] = str(end)
        return page

    return paginate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", choices=["streamable_http", "sse"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--requests")
    parser.add_argument("--page-size", type=int, default=None)
    parser.add_argument("--json-response", action="store_true")
    parser.add_argument("--descriptions")
    args = parser.parse_args()
    mcp = build(args.name, args.page_size, Path(args.descriptions) if args.descriptions else None)

    stateless = args.transport == "streamable_http"
    if stateless:
        app = mcp.streamable_http_app(stateless_http=True, json_response=args.json_response)
    else:
        app = mcp.sse_app()

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and args.requests:
            headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            line = {
                "method": scope["method"],
                "path": scope["path"],
                "authorization": headers.get("authorization"),
            }
            if scope["method"] == "POST":  # what was asked (JSON-RPC), so a test sees calls
                message = await receive()
                line["body"] = message.get("body", b"").decode(errors="replace")[:4096]
                receive = _replaying(message, receive)
            with open(args.requests, "a") as out:  # noqa: ASYNC230 (a test's small log line)
                out.write(json.dumps(line) + "\n")
        if stateless and scope["type"] == "http" and scope["method"] == "GET":
            await send(
                {
                    "type": "http.response.start",
                    "status": 405,
                    "headers": [(b"allow", b"POST"), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await app(scope, receive, send)

    uvicorn.run(recording, host="127.0.0.1", port=args.port, log_level="warning")


def _replaying(first: Any, receive: Any) -> Any:
    """receive() giving `first` again, then the real messages (the body was read to log)."""
    given = False

    async def replay() -> Any:
        nonlocal given
        if not given:
            given = True
            return first
        return await receive()

    return replay


class Upstream:
    """One process of this server."""

    def __init__(self, transport: str, port: int, requests: Path, proc: subprocess.Popen[bytes]):
        self.transport = transport
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.requests_path = requests
        self.proc = proc
        path = "/mcp" if transport == "streamable_http" else "/sse"
        self.url = f"http://{self.address}{path}"

    def requests(self) -> list[dict[str, Any]]:
        """Every HTTP request it received (method, path, authorization), in order."""
        if not self.requests_path.exists():
            return []
        return [json.loads(line) for line in self.requests_path.read_text().splitlines()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(upstream: Upstream, log: Path) -> None:
    deadline = time.monotonic() + 20
    while True:
        if upstream.proc.poll() is not None:
            raise RuntimeError(f"upstream exited ({upstream.proc.returncode}):\n{log.read_text()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", upstream.port)) == 0:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"upstream on {upstream.port} did not start:\n{log.read_text()}")
        time.sleep(0.05)


@contextmanager
def running(
    workdir: Path,
    name: str,
    *,
    processes: int = 1,
    transport: str = "streamable_http",
    page_size: int | None = None,
    json_response: bool = False,
) -> Iterator[list[Upstream]]:
    """`processes` processes of the server `name` (replicas of one upstream: any answers any
    request), each on a port and recording to a file of its own; all stopped after."""
    workdir.mkdir(parents=True, exist_ok=True)
    started: list[Upstream] = []
    logs: list[Path] = []
    try:
        for i in range(processes):
            port = _free_port()
            requests = workdir / f"{name}-{i}-requests.jsonl"
            log = workdir / f"{name}-{i}.log"
            command = [sys.executable, __file__, "--transport", transport, "--port", str(port),
                       "--name", name, "--requests", str(requests)]  # fmt: skip
            if page_size:
                command += ["--page-size", str(page_size)]
            if json_response:
                command.append("--json-response")
            with log.open("wb") as out:
                proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=out)
            started.append(Upstream(transport, port, requests, proc))
            logs.append(log)
        for upstream, log in zip(started, logs, strict=True):
            _wait_for(upstream, log)
        yield started
    finally:
        for upstream in started:
            upstream.stop()


if __name__ == "__main__":
    main()
