"""The real peers of the proxy's tests: upstream MCP servers in processes of their own, and
the gateway served over real HTTP (uvicorn on a thread of its own) so MCP clients, the
Python SDK's and the TypeScript SDK's, can reach it on a port."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import uvicorn
from litestar import Litestar

from gateway.app import create_app
from gateway.audit.records import DecisionRecord
from gateway.config import Settings
from tests.fixtures.gateway import decision_records
from tests.fixtures.redis_server import free_port, stop_process

UPSTREAM = Path(__file__).with_name("upstream_server.py")


class Upstream:
    def __init__(self, transport: str, port: int, requests: Path, proc: subprocess.Popen[bytes]):
        self.transport = transport
        self.port = port
        self.requests_path = requests
        self.proc = proc
        path = "/mcp" if transport == "streamable_http" else "/sse"
        self.url = f"http://127.0.0.1:{port}{path}"

    def requests(self) -> list[dict[str, Any]]:
        if not self.requests_path.exists():
            return []
        return [json.loads(line) for line in self.requests_path.read_text().splitlines()]

    def stop(self) -> None:
        stop_process(self.proc)


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode})")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.05)


@contextmanager
def upstreams(tmp_path: Path, *specs: tuple[str, str]) -> Iterator[list[Upstream]]:
    """One upstream per (name, transport), all stopped afterwards."""
    started: list[Upstream] = []
    try:
        for name, transport in specs:
            port = free_port()
            requests = tmp_path / f"{name}-requests.jsonl"
            proc = subprocess.Popen(
                [sys.executable, str(UPSTREAM), "--transport", transport, "--port", str(port),
                 "--name", name, "--requests", str(requests)],
                stdout=subprocess.DEVNULL,
                stderr=(tmp_path / f"{name}.log").open("wb"),
            )  # fmt: skip
            started.append(Upstream(transport, port, requests, proc))
        for upstream in started:
            _wait_for_port(upstream.port, upstream.proc, f"upstream on {upstream.port}")
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
def served_gateway(settings: Settings) -> Iterator[ServedGateway]:
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    try:
        yield ServedGateway(app, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=15)
