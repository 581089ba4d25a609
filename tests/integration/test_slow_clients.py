"""Slow clients cannot hold the gateway's sockets: headers and bodies that trickle in are cut
off with a 408 at their deadline (before, 60 trickling sockets stayed open over a minute).
A real `gateway serve` process: the header deadline lives in its HTTP protocol (as does
what it leaves out of every answer: the server's name)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.live_gateway import LiveGateway, live_gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    with live_gateway(
        tmp_path_factory.mktemp("slow"),
        GATEWAY_HEADER_TIMEOUT_SECONDS="1",
        GATEWAY_BODY_TIMEOUT_SECONDS="1",
    ) as running:
        yield running


def _connect(gateway: LiveGateway) -> socket.socket:
    host, port = gateway.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.settimeout(0.05)
    return sock


def _trickle_until_closed(socks: list[socket.socket], chunk: bytes, give_up: float) -> list[bytes]:
    """Send `chunk` on every open socket every 0.2 s until the server closed each (or
    `give_up` seconds passed); returns what each received."""
    received = [b"" for _ in socks]
    open_ = set(range(len(socks)))
    stop = time.monotonic() + give_up
    while open_ and time.monotonic() < stop:
        for i in list(open_):
            try:
                socks[i].sendall(chunk)
                data = socks[i].recv(4096)
                received[i] += data
                if not data:
                    open_.discard(i)
            except TimeoutError:
                continue
            except OSError:  # reset or broken pipe: closed by the server
                open_.discard(i)
        time.sleep(0.2)
    assert not open_, f"{len(open_)} sockets still open after {give_up} s"
    return received


def test_trickled_headers_are_cut_off_with_a_408(gateway: LiveGateway) -> None:
    socks = [_connect(gateway) for _ in range(60)]
    try:
        for sock in socks:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n")
        received = _trickle_until_closed(socks, b"X-Slow: 1\r\n", give_up=15)
    finally:
        for sock in socks:
            sock.close()
    assert all(r.startswith(b"HTTP/1.1 408 ") for r in received), received[:3]
    assert b"request headers not received in time" in received[0]


def test_a_connection_that_sends_nothing_is_closed(gateway: LiveGateway) -> None:
    sock = _connect(gateway)
    try:
        received = _trickle_until_closed([sock], b"", give_up=10)
    finally:
        sock.close()
    assert received[0].startswith(b"HTTP/1.1 408 ")


def test_a_trickled_body_is_cut_off_with_a_408(gateway: LiveGateway) -> None:
    token = gateway.client("alice").headers["Authorization"]
    sock = _connect(gateway)
    try:
        sock.sendall(
            b"POST /v1/mcp-servers HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
            b"Authorization: " + token.encode() + b"\r\nContent-Length: 100000\r\n\r\n{"
        )
        received = _trickle_until_closed([sock], b" ", give_up=15)
    finally:
        sock.close()
    assert received[0].startswith(b"HTTP/1.1 408 "), received[0][:200]
    assert b"request body not received in time" in received[0]


def test_a_prompt_client_is_unaffected(gateway: LiveGateway) -> None:
    with gateway.client("alice") as alice:
        created = alice.post(
            "/v1/mcp-servers", json={"name": "time", "transport": "stdio", "command": "uvx"}
        )
        assert created.status_code == 201, created.text
        assert alice.get("/v1/mcp-servers").json()["items"][0]["name"] == "time"


def test_auth_disabled_refuses_a_non_loopback_bind(tmp_path: Path) -> None:
    env = {"GATEWAY_AUTH_ENABLED": "false", "PATH": "/usr/bin:/bin"}
    refused = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--host", "0.0.0.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "not a loopback address" in refused.stderr
    with live_gateway(
        tmp_path,
        args=("--host", "0.0.0.0"),
        GATEWAY_AUTH_ENABLED="false",
        GATEWAY_ALLOW_INSECURE_BIND="true",
    ) as forced:
        assert forced.proc.poll() is None


def test_answers_do_not_name_the_server(gateway: LiveGateway) -> None:
    """`gateway serve` turns uvicorn's `server: uvicorn` header off (and keeps `date`)."""
    sock = _connect(gateway)
    sock.settimeout(5)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    finally:
        sock.close()
    head = answer.split(b"\r\n\r\n", 1)[0].lower().split(b"\r\n")
    assert head[0].startswith(b"http/1.1 200")
    names = {line.split(b":", 1)[0] for line in head[1:]}
    assert b"date" in names and b"server" not in names, names
