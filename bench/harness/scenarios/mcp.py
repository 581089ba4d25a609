"""The MCP proxy: the same stateless 2026-07-28 request sent straight to an upstream and
through the gateway's `/mcp`, for `tools/call` and for `tools/list`; the summary gives
proxied / direct for req/s, p50 and p99 of each pair.

The upstream is tests/mcp_proxy/upstream_server.py: the SDK 2.3 `MCPServer` over Streamable
HTTP, stateless, answering one JSON body per POST (`--json-response`), in its own process on
a free port, no auth (the bearer token wrk sends is ignored). It serves four tools.

Every wrk request is a complete 2026-07-28 request, as the SDK client sends it (no
initialize, no session, nothing opened beforehand): `params._meta` carries
`io.modelcontextprotocol/protocolVersion` "2026-07-28" and `…/clientCapabilities` {}; the
headers `MCP-Protocol-Version: 2026-07-28`, `Mcp-Method` (and `Mcp-Name` for a call) match
the body, `Accept: application/json, text/event-stream`, `Content-Type: application/json`;
one JSON body comes back. Each row is probed first: its answer must be a JSON-RPC `result`
(an error is a 200 too, and measuring errors would measure nothing).

- `mcp_direct`: `tools/call` of `read_file` {"path": "/tmp/bench.txt"} to the upstream.
- `mcp`: the same call as `echo__read_file` to `/mcp`, as the measured user, whose personal
  server `echo` points at the upstream (35 more servers in the view; the tenant's ten HTTP
  ones, whose URLs resolve nowhere, are disabled by `only_echo`, so echo is the one server
  the proxy reaches). Each call: HS256 auth, the rate limit (counted, never reached), the per-user
  in-flight count (set above wrk's connections: never reached), the merged view (Redis
  stores, view cache), the tool's definition, one `tool.call` decision with the arguments
  (embedded engine, shipped policies) written to the decision log in Redis, then the call on
  the user's pooled upstream client (opened by the probe, reused after). The gateway runs
  with GATEWAY_ALLOW_PRIVATE_UPSTREAMS=true (the upstream is on 127.0.0.1).
- `mcp_list_direct`: `tools/list` to the upstream (its four tools).
- `mcp_list`: `tools/list` to `/mcp`: the same four tools, each decided (`tool.call` without
  arguments, logged) and renamed `echo__…`, `cacheScope: "private"`; every list asks the
  upstream again (nothing is cached across requests but decisions by policy revision and
  input, and the view by its generation).

The proxied rows add the upstream's CPU per request (`upstream_cpu_ms_per_request`): CPU
per call is the gateway's plus the upstream's; direct, the upstream's alone.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from bench import REPO
from bench._process import Server, start_local
from bench.harness.endpoint import Endpoint
from bench.harness.tenant import USER, VIEW_PATH, Api

MCP_SERVER = "echo"  # the measured user's personal server that points at the upstream
MCP_VERSION = "2026-07-28"
MCP_PATH = "/mcp"
HTTP = ("streamable_http", "sse")  # the transports the proxy reaches
ARGUMENTS = {"path": "/tmp/bench.txt"}
_META = {
    "io.modelcontextprotocol/protocolVersion": MCP_VERSION,
    "io.modelcontextprotocol/clientCapabilities": {},
}


def request(method: str, name: str | None = None) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The body and headers of one 2026-07-28 request: `tools/call` of `name`, or a list."""
    params: dict[str, object] = {"_meta": _META}
    headers = [
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", MCP_VERSION),
        ("Mcp-Method", method),
    ]
    if name is not None:
        params |= {"name": name, "arguments": ARGUMENTS}
        headers.append(("Mcp-Name", name))
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    return json.dumps(body, separators=(",", ":")), tuple(headers)


def _row(
    key: str, label: str, method: str, name: str | None, *, proxied: bool, note: str
) -> Endpoint:
    body, headers = request(method, name)
    return Endpoint(
        key,
        label,
        "POST",
        MCP_PATH,
        body=body,
        headers=headers,
        target="gateway" if proxied else "upstream",
        # Through the proxy, the upstream's CPU is part of each request's cost too.
        behind="upstream" if proxied else "",
        mcp=True,
        part_of="mcp",
        note=note,
    )


DIRECT = _row(
    "mcp_direct",
    "tools/call direct to the upstream",
    "tools/call",
    "read_file",
    proxied=False,
    note="MCPServer (tests/mcp_proxy/upstream_server.py), stateless, JSON answers: "
    "one 2026-07-28 tools/call per request",
)
PROXIED = _row(
    "mcp",
    "POST /mcp tools/call (proxied)",
    "tools/call",
    f"{MCP_SERVER}__read_file",
    proxied=True,
    note="the same call through the gateway: a tool.call decision with the arguments logged "
    "per call, the user's pooled upstream client",
)
LIST_DIRECT = _row(
    "mcp_list_direct",
    "tools/list direct to the upstream",
    "tools/list",
    None,
    proxied=False,
    note="the upstream's four tools, one 2026-07-28 tools/list per request",
)
LIST = _row(
    "mcp_list",
    "POST /mcp tools/list (proxied)",
    "tools/list",
    None,
    proxied=True,
    note="the same list through the gateway: the upstream listed, each tool decided and "
    "logged, renamed echo__*",
)


def _wait_listening(server: Server) -> None:
    """Until the upstream accepts a request (a GET: 405 from a stateless server)."""
    import httpx

    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(server.base + MCP_PATH, timeout=5)
            return
        except httpx.TransportError:
            if server.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{server.name} did not start:\n{server.output()}") from None
            time.sleep(0.1)


def only_echo(me: Api, echo_id: str) -> None:
    """Leave `echo` the only server of the view the proxy reaches: the tenant's other HTTP
    servers (personal, `https://mcp.example.com/…`, which resolve nowhere) are disabled,
    still in the view (35 items + echo: the view read costs what it did), no longer
    proxied. Otherwise every proxied list fans out to ten failing upstreams and measures
    their failures, not the proxy."""
    view = me.call("GET", VIEW_PATH)["items"]
    for item in view:
        if item["transport"] in HTTP and item["enabled"] and item["id"] != echo_id:
            me.call("PATCH", f"/v1/mcp-servers/{item['id']}", {"enabled": False})
    left = [
        item["id"]
        for item in me.call("GET", VIEW_PATH)["items"]
        if item["transport"] in HTTP and item["enabled"]
    ]
    if left != [echo_id]:
        raise SystemExit(f"the mcp rows need echo alone reachable in the view; it has {left}")


@dataclass
class McpRig:
    """What the mcp rows need: the upstream on a free port, and the measured user's personal
    server `echo` pointing at it. Nothing else is opened: every request stands alone."""

    upstream: Server

    @classmethod
    def start(cls, gateway: Server, tmp: Path) -> McpRig:
        upstream = start_local(
            "mcp-upstream",
            [str(REPO / "tests" / "mcp_proxy" / "upstream_server.py"),
             "--transport", "streamable_http", "--json-response", "--name", MCP_SERVER],
            tmp,
        )  # fmt: skip
        try:
            _wait_listening(upstream)
            me = Api(gateway.base, USER)
            body = {
                "name": MCP_SERVER,
                "transport": "streamable_http",
                "url": f"{upstream.base}{MCP_PATH}",
            }
            echo = me.call("POST", "/v1/mcp-servers", body, expect=201)
            only_echo(me, echo["id"])
            me.client.close()
        except BaseException:
            upstream.stop()
            raise
        return cls(upstream)

    def stop(self) -> None:
        self.upstream.stop()


def probe_mcp(base: str, endpoint: Endpoint, path: str, token: str) -> int:
    """One request as wrk sends it: it must be a 200 JSON-RPC `result` of the right shape."""
    import httpx

    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        **dict(endpoint.headers),
    }
    response = httpx.post(base + path, headers=headers, content=endpoint.body, timeout=30)
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    result = answer.get("result") if isinstance(answer, dict) else None
    method = dict(endpoint.headers).get("Mcp-Method")
    shaped = (
        isinstance(result, dict)
        and bool(result.get("tools") if method == "tools/list" else result.get("content"))
        and not result.get("isError")
    )
    if response.status_code != 200 or not shaped:
        raise SystemExit(f"{endpoint.label}: {response.status_code} {response.text[:500]}")
    return response.status_code
