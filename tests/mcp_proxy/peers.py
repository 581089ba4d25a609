"""The real peers of the proxy's tests: upstream MCP servers in processes of their own, and
the gateway served over real HTTP (uvicorn on a thread of its own) so MCP clients, the
Python SDK's and the TypeScript SDK's, can reach it on a port."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import uvicorn
from litestar import Litestar

from gateway.app import create_app
from gateway.audit.records import DecisionRecord
from gateway.config import Settings
from tests.fixtures.gateway import decision_records
from tests.fixtures.ports import (
    START_ATTEMPTS,
    free_port,
    listens,
    port_in_use,
    port_was_taken,
)
from tests.fixtures.redis_server import stop_process

UPSTREAM = Path(__file__).with_name("upstream_server.py")


class Upstream:
    def __init__(self, transport: str, port: int, requests: Path, proc: subprocess.Popen[bytes]):
        self.transport = transport
        self.port = port
        self.requests_path = requests
        # JSON tool name -> description: written by a test, read by the upstream at each list.
        self.descriptions_path = requests.with_name(
            requests.name.replace("-requests.jsonl", "-descriptions.json")
        )
        self.proc = proc
        path = "/mcp" if transport == "streamable_http" else "/sse"
        self.url = f"http://127.0.0.1:{port}{path}"

    def requests(self) -> list[dict[str, Any]]:
        if not self.requests_path.exists():
            return []
        return [json.loads(line) for line in self.requests_path.read_text().splitlines()]

    def stop(self) -> None:
        stop_process(self.proc)


def _spawn(tmp_path: Path, name: str, transport: str) -> Upstream:
    port = free_port()
    requests = tmp_path / f"{name}-requests.jsonl"
    with (tmp_path / f"{name}.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(UPSTREAM), "--transport", transport, "--port", str(port),
             "--name", name, "--requests", str(requests),
             "--descriptions", str(tmp_path / f"{name}-descriptions.json")],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )  # fmt: skip
    return Upstream(transport, port, requests, proc)


def _serving(upstream: Upstream, log: Path) -> bool:
    """Wait until the upstream listens on its port from its own socket (tests.fixtures.ports);
    False if another process took the port first."""
    deadline = time.monotonic() + 20
    while not listens(upstream.proc.pid, upstream.port):
        if upstream.proc.poll() is not None:
            output = log.read_text(errors="replace")
            if port_was_taken(output):
                return False
            raise RuntimeError(f"upstream on {upstream.port} exited:\n{output[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"upstream on {upstream.port} did not start")
        time.sleep(0.05)
    return True


@contextmanager
def upstreams(tmp_path: Path, *specs: tuple[str, str]) -> Iterator[list[Upstream]]:
    """One upstream per (name, transport), all stopped afterwards."""
    started: list[Upstream] = []
    try:
        started.extend(_spawn(tmp_path, name, transport) for name, transport in specs)
        for i, (name, transport) in enumerate(specs):
            attempts = 1
            while not _serving(started[i], tmp_path / f"{name}.log"):
                if attempts == START_ATTEMPTS:
                    raise RuntimeError(f"upstream {name}: every port tried was taken")
                started[i] = _spawn(tmp_path, name, transport)  # its port was taken: another
                attempts += 1
        yield started
    finally:
        for upstream in started:
            upstream.stop()


async def eventually(condition: Callable[[], bool], *, within: float = 10.0) -> None:
    """Wait until `condition` holds (work the gateway finishes after answering); fail after
    `within` seconds. Not a timing assertion: only a bound on waiting."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition still false after waiting")
        await asyncio.sleep(0.05)


class ServedGateway:
    def __init__(self, app: Litestar, base_url: str) -> None:
        self.app = app
        self.base_url = base_url
        self.mcp_url = f"{base_url}/mcp"

    async def decision_records(self) -> list[DecisionRecord]:
        # The shared helper wants a test client; it only reads `.app`.
        return await decision_records(SimpleNamespace(app=self.app))  # type: ignore[arg-type]


@contextmanager
def served_gateway(settings: Settings, *, public_url: bool = False) -> Iterator[ServedGateway]:
    """The gateway on a free port of 127.0.0.1 (uvicorn on a thread). `public_url`: its
    `GATEWAY_PUBLIC_URL` is that real address, as an OAuth deployment's is, so the MCP
    resource it names (`<it>/mcp`) and its metadata URL are the ones a client reaches; the
    port is chosen before the app is built, and another one tried if it was taken meanwhile."""
    for attempt in range(START_ATTEMPTS):
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        app = create_app(
            msgspec.structs.replace(settings, public_url=base_url) if public_url else settings
        )
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        thread = threading.Thread(target=server.run, name="gateway", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and thread.is_alive():
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.02)
        if server.started:
            break
        # The thread ended without serving: uvicorn could not bind (it ran the lifespan's
        # startup and shutdown, then exited), when another process took the port between
        # free_port() and the bind; anything else is the gateway's own failure.
        if not port_in_use(port):
            raise RuntimeError("the gateway did not start (see the log above)")
        if attempt == START_ATTEMPTS - 1:
            raise RuntimeError("the gateway did not start: every port tried was taken")
    try:
        yield ServedGateway(app, base_url)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
