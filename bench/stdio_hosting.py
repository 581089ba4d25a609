"""Hosted stdio servers: how long the first request to a server takes when its sandbox must be
started (cold) and when it runs (warm), and the memory one sandbox holds.

Run by hand (root, bubblewrap; not a test): `.venv/bin/python -m bench.stdio_hosting [--n N]`.
A gateway served over HTTP (uvicorn on a thread, memory stores, the embedded engine, auth on)
hosts three servers: the inline stdlib-only one (tests/mcp_proxy/stdio_servers), one written
with the Python SDK, and @modelcontextprotocol/server-everything (Node). For each, N users each
install it; with one MCP client (already connected: the client's own connection is warm),
`tools/list` is timed once with no sandbox running (cold: two `mcp_server.run` decisions, the
credentials, the workspace, bwrap, the interpreter's start, the MCP handshake, the listing and
a `tool.call` decision per tool) and then 5 times with it running (warm, the median).
Memory: PSS and RSS summed over the processes of that sandbox's uid (the outer bwrap, its
init in the sandbox's pid namespace, the server and its threads), from /proc/<pid>/smaps_rollup.
The page cache is warm for all but the very first start (the interpreters were run before):
"cold" is a sandbox start, not a machine boot.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from gateway.config import Settings
from gateway.sandbox import Workspaces
from tests.fixtures.gateway import JWT_SECRET as SECRET
from tests.fixtures.gateway import token_for  # names the MCP resource (audience)
from tests.mcp_proxy.client import mcp_client
from tests.mcp_proxy.peers import served_gateway
from tests.mcp_proxy.stdio_hosting import (
    EVERYTHING,
    TEST_MEMORY_BYTES,
    npm_server,
    sdk_server,
    stdio_servers_dir,
    stdlib_server,
)


def _memory(uid: int) -> dict[str, float]:
    """PSS and RSS (MiB) of every process whose real uid is `uid`, and how many there are."""
    pss = rss = 0
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            real = int(next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1])
            if real != uid:
                continue
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except (OSError, StopIteration):
            continue
        fields = {ln.split(":")[0]: int(ln.split()[1]) for ln in rollup.splitlines()[1:]}
        pss += fields.get("Pss", 0)
        rss += fields.get("Rss", 0)
        count += 1
    return {"pss_mib": pss / 1024, "rss_mib": rss / 1024, "processes": count}


async def _measure(base_url: str, root: str, label: str, body: dict[str, Any], n: int) -> dict:
    cold: list[float] = []
    warm: list[float] = []
    memory: list[dict[str, float]] = []
    for i in range(n):
        user = f"bench-{label}-{i}"
        async with httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {token_for(user)}"}
        ) as api:
            created = await api.post("/v1/mcp-servers", json=body)
            created.raise_for_status()
            server_id = created.json()["id"]
        # Entering the client (server/discover) warms its connection to the gateway; no
        # server of the user is contacted before the first listing.
        async with mcp_client(f"{base_url}/mcp", token_for(user)) as client:
            started = time.perf_counter()
            listed = await client.list_tools()
            cold.append((time.perf_counter() - started) * 1000)
            assert listed.tools, f"{label}: nothing listed"
            runs = []
            for _ in range(5):
                started = time.perf_counter()
                await client.list_tools()
                runs.append((time.perf_counter() - started) * 1000)
            warm.append(statistics.median(runs))
        memory.append(_memory(Workspaces(root).of(user, server_id).uid))
    return {
        "server": label,
        "cold_ms_median": statistics.median(cold),
        "cold_ms_max": max(cold),
        "warm_ms_median": statistics.median(warm),
        "pss_mib_median": statistics.median(m["pss_mib"] for m in memory),
        "rss_mib_median": statistics.median(m["rss_mib"] for m in memory),
        "processes": statistics.median(m["processes"] for m in memory),
    }


async def _run(base_url: str, root: str, n: int, servers: str) -> list[dict]:
    kinds = [
        ("stdlib", stdlib_server()),
        ("python-sdk", sdk_server(servers)),
        ("everything", npm_server(servers, "everything", EVERYTHING, "stdio")),
    ]
    return [await _measure(base_url, root, label, body, n) for label, body in kinds]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="sandboxes started per server kind")
    args = parser.parse_args()
    servers = stdio_servers_dir()
    if servers is None:
        raise SystemExit("scripts/stdio-servers needs Node.js")
    root = tempfile.mkdtemp(prefix="gw-stdio-bench-", dir="/tmp")
    os.chmod(root, 0o711)
    settings = Settings(
        jwt_secret=SECRET,
        stdio_hosting="true",
        stdio_workspace_dir=root,
        stdio_readonly_paths=(servers,),
        stdio_memory_bytes=TEST_MEMORY_BYTES,
        stdio_idle_seconds=3600,
        stdio_max_sandboxes=256,
        policy_poll_seconds=0,
        rate_limit_requests=0,
        access_log=False,
    )
    with served_gateway(settings) as gateway:
        results = asyncio.run(_run(gateway.base_url, root, args.n, servers))
    print(f"# {platform.platform()}, {os.cpu_count()} CPUs, n={args.n} per server")
    print(
        "| server | cold tools/list (median, max) | warm tools/list (median) "
        "| PSS per sandbox | RSS per sandbox | processes |"
    )
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['server']} | {r['cold_ms_median']:.0f} ms, {r['cold_ms_max']:.0f} ms "
            f"| {r['warm_ms_median']:.1f} ms | {r['pss_mib_median']:.1f} MiB "
            f"| {r['rss_mib_median']:.1f} MiB | {r['processes']:.0f} |"
        )


if __name__ == "__main__":
    main()
