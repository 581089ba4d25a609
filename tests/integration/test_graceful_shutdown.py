"""SIGTERM (issue 13): the gateway stops accepting, lets the request in flight finish, writes
its decision records to Redis, and exits. A real gateway process on a redis-server of the
test's own, paused (SIGSTOP) so that a request is certainly in flight when SIGTERM comes:
every step waits on something it can observe, never on a sleep."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.audit.log import AuditFilter
from gateway.audit.records import DecisionRecord, decode_record
from gateway.audit.redis_log import RedisDecisionLog
from gateway.stores.redis.client import redis_client_from_url
from tests.fixtures.gateway import token_for
from tests.fixtures.live_gateway import live_gateway
from tests.fixtures.processes import pause_process
from tests.fixtures.redis_server import start_redis_server, stop_process

pytestmark = pytest.mark.redis

REQ_ID = "in-flight-at-sigterm"
DEADLINE_S = 20.0  # for each wait: far beyond what it takes; reaching it is the failure


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    proc, port = start_redis_server(workdir)
    proc.port = port  # type: ignore[attr-defined]
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            stop_process(proc)


def wait_until(what: str, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.02)


def in_flight(base_url: str) -> float:
    # From 127.0.0.1 without a token: /metrics is served to loopback clients.
    text = httpx.get(f"{base_url}/metrics", timeout=5).text
    return next(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "gateway_http_requests_in_flight"
    )


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


async def records_of(url: str, req_id: str) -> list[DecisionRecord]:
    client = redis_client_from_url(url)
    try:
        log = RedisDecisionLog(client)
        return [decode_record(raw) async for raw in log.export(AuditFilter(req_id=req_id))]
    finally:
        await client.aclose()


def test_sigterm_drains_the_request_in_flight_and_flushes_its_decisions(
    tmp_path: Path, own_redis: subprocess.Popen[bytes]
) -> None:
    url = f"redis://127.0.0.1:{own_redis.port}/0"  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {token_for('alice')}", "X-Request-Id": REQ_ID}
    with live_gateway(
        tmp_path,
        GATEWAY_REDIS_URL=url,
        GATEWAY_LOG_FORMAT="json",
        GATEWAY_SHUTDOWN_GRACE_SECONDS="30",
    ) as gateway:
        port = int(gateway.base_url.rsplit(":", 1)[1])
        with gateway.client("alice") as alice:  # connections to Redis are open and warm
            assert alice.get("/v1/mcp-servers").status_code == 200
        assert in_flight(gateway.base_url) == 0
        pause_process(own_redis.pid)
        try:
            with ThreadPoolExecutor(1) as pool, httpx.Client(timeout=60) as client:
                pending = pool.submit(
                    client.get, f"{gateway.base_url}/v1/mcp-servers", headers=headers
                )
                wait_until("the request is in flight", lambda: in_flight(gateway.base_url) == 1)
                gateway.proc.send_signal(signal.SIGTERM)
                wait_until("the gateway stops accepting", lambda: refuses_connections(port))
                assert pending.running()  # Redis is still paused: it cannot have finished
                os.kill(own_redis.pid, signal.SIGCONT)
                response = pending.result(timeout=DEADLINE_S)
        finally:
            os.kill(own_redis.pid, signal.SIGCONT)
        # uvicorn re-raises the signal once it has shut down gracefully: the supervisor sees
        # the process end by the SIGTERM it sent, after the lifespan closed the runtime.
        assert gateway.proc.wait(timeout=DEADLINE_S) == -signal.SIGTERM
        output = gateway.output()
        assert "Application shutdown complete." in output

    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == REQ_ID
    records = asyncio.run(records_of(url, REQ_ID))
    assert records, "the in-flight request's decisions are not in the log"
    assert {r.decision_id for r in records} >= {response.headers["x-decision-id"]}
    assert all(r.http.status == 200 for r in records)
    # GATEWAY_LOG_FORMAT=json: every line the process wrote is one JSON object.
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines and all(isinstance(msgspec.json.decode(line), dict) for line in lines)
    assert not any("Bearer " in line and "***" not in line for line in lines)
