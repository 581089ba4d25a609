"""The MCP proxy: one `tools/call` of `read_file` (JSON-RPC body, its own id per request)
sent straight to an upstream and through the gateway's `/mcp`; the summary gives proxied /
direct for req/s, p50 and p99.

The upstream is tests/mcp_proxy/upstream_server.py: FastMCP over Streamable HTTP, stateful,
in its own process on a free port, no auth (the bearer token wrk sends is ignored).

- `mcp_direct`: 32 sessions opened on the upstream beforehand (initialize, then
  notifications/initialized); wrk puts each request in the next one.
- `mcp`: the same call as `echo__read_file` in 32 sessions of the measured user opened on the
  gateway (so as many upstream sessions, pooled). Each call: HS256 auth, the merged view
  (cached), one `tool.call` decision logged to Redis, the rate limit (counted, never reached),
  then the call upstream; the gateway runs with GATEWAY_ALLOW_PRIVATE_UPSTREAMS=true (the
  upstream is on 127.0.0.1). Its row adds the upstream's CPU per call.

The first call of each gateway session opens its upstream session: at a `--duration` of 2 s
or less the row can finish with no completed request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bench import REPO
from bench._process import Server, start_local
from bench.harness.endpoint import Endpoint
from bench.harness.tenant import USER, Api

MCP_SERVER = "echo"  # the measured user's personal server that points at the upstream
MCP_SESSIONS = 32
MCP_VERSION = "2025-06-18"
# `$id` is replaced per request: two requests in flight in one session need distinct ids (the
# SDK routes a response to its POST by id).
MCP_CALL = (
    '{{"jsonrpc": "2.0", "id": "$id", "method": "tools/call", '
    '"params": {{"name": "{tool}", "arguments": {{"path": "/tmp/bench.txt"}}}}}}'
)
MCP_HEADERS = (
    ("Accept", "application/json, text/event-stream"),
    ("Mcp-Protocol-Version", MCP_VERSION),
)

# The MCP proxy: the same tools/call sent straight to the upstream (a FastMCP server over
# Streamable HTTP the harness starts) and through `/mcp`; the summary gives the ratio.
DIRECT = Endpoint(
    "mcp_direct",
    "tools/call direct to the upstream",
    "POST",
    "/mcp",
    body=MCP_CALL.format(tool="read_file"),
    headers=MCP_HEADERS,
    target="upstream",
    mcp_sessions=True,
    part_of="mcp",
    note="FastMCP (tests/mcp_proxy/upstream_server.py) over Streamable HTTP, stateful: "
    f"{MCP_SESSIONS} sessions opened before, each request in the next one",
)
PROXIED = Endpoint(
    "mcp",
    "POST /mcp tools/call (proxied)",
    "POST",
    "/mcp",
    body=MCP_CALL.format(tool=f"{MCP_SERVER}__read_file"),
    headers=MCP_HEADERS,
    behind="upstream",  # through the proxy, the upstream's CPU is part of each call's cost too
    mcp_sessions=True,
    note=f"the same call through the gateway: {MCP_SESSIONS} client sessions of the measured "
    "user (so as many upstream sessions), a tool.call decision logged per call",
)


def open_mcp_sessions(server: Server, token: str, count: int) -> list[str]:
    """`count` MCP sessions (initialize, then notifications/initialized), as the user of
    `token`; waits for a server that is still starting."""
    import httpx

    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": MCP_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "bench-harness", "version": "1"},
        },
    }
    ready = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    sessions: list[str] = []
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=server.base, headers=headers, timeout=30) as client:
        while len(sessions) < count:
            try:
                opened = client.post("/mcp", json=init)
            except httpx.ConnectError:
                if server.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{server.name} did not start:\n{server.output()}") from None
                time.sleep(0.1)
                continue
            session = opened.headers.get("mcp-session-id")
            if opened.status_code != 200 or not session:
                raise SystemExit(f"{server.name}: initialize: {opened.status_code} {opened.text}")
            acked = client.post(
                "/mcp",
                json=ready,
                headers={"Mcp-Session-Id": session, "Mcp-Protocol-Version": MCP_VERSION},
            )
            if acked.status_code != 202:
                raise SystemExit(f"{server.name}: initialized: {acked.status_code} {acked.text}")
            sessions.append(session)
    return sessions


@dataclass
class McpRig:
    """What the mcp rows need: the upstream (FastMCP over Streamable HTTP on a free port), the
    measured user's personal server `echo` pointing at it, and open sessions on both sides."""

    upstream: Server
    sessions: dict[str, list[str]]  # Endpoint.target -> session ids

    @classmethod
    def start(cls, gateway: Server, token: str, tmp: Path) -> McpRig:
        upstream = start_local(
            "mcp-upstream",
            [str(REPO / "tests" / "mcp_proxy" / "upstream_server.py"),
             "--transport", "streamable_http", "--name", MCP_SERVER],
            tmp,
        )  # fmt: skip
        try:
            direct = open_mcp_sessions(upstream, token, MCP_SESSIONS)
            me = Api(gateway.base, USER)
            body = {
                "name": MCP_SERVER,
                "transport": "streamable_http",
                "url": f"{upstream.base}/mcp",
            }
            me.call("POST", "/v1/mcp-servers", body, expect=201)
            me.client.close()
            proxied = open_mcp_sessions(gateway, token, MCP_SESSIONS)
        except BaseException:
            upstream.stop()
            raise
        return cls(upstream, {"upstream": direct, "gateway": proxied})

    def stop(self) -> None:
        self.upstream.stop()


def probe_mcp(base: str, endpoint: Endpoint, path: str, token: str, session: str) -> int:
    """One call in `session`: it must be a tools/call result (a JSON-RPC error is a 200 too,
    and measuring errors would measure nothing)."""
    import httpx

    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Mcp-Session-Id": session,
        **dict(endpoint.headers),
    }
    body = (endpoint.body or "").replace("$id", "probe")
    response = httpx.post(base + path, headers=headers, content=body, timeout=30)
    if response.status_code != 200 or '"result"' not in response.text or '"error"' in response.text:
        raise SystemExit(f"{endpoint.label}: {response.status_code} {response.text[:500]}")
    return response.status_code
