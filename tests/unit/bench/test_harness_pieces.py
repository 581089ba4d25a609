"""The harness's own arithmetic and plumbing (bench/harness/): what a wrong figure in a
benchmark report would come from — the counters read from /metrics, the process tree whose
CPU and RSS are summed, the soak's growth, the bare 304, the pacer's HTTP reading."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from litestar.testing import TestClient
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from bench.bare_app import create_bare_app
from bench.harness import metrics
from bench.harness.cpu import process_tree, tree_cpu_seconds, tree_rss_kib
from bench.harness.pace import _read_answer
from bench.harness.report import summary_rows, table
from bench.harness.soak import growth


def _exposition() -> str:
    registry = CollectorRegistry()
    trips = Counter("gateway_redis_round_trips", "round trips", registry=registry)
    trips.inc(41)
    served = Counter("gateway_http_requests", "requests", ["method", "status"], registry=registry)
    served.labels("GET", "200").inc(3)
    served.labels("GET", "304").inc(4)
    Gauge("gateway_view_cache_local_bytes", "copy size", registry=registry).set(15420)
    Counter("gateway_view_cache_lookups", "lookups", ["result"], registry=registry).labels(
        "hit"
    ).inc()
    return generate_latest(registry).decode()


def test_counters_are_read_from_the_exposition() -> None:
    samples = metrics.parse(_exposition())
    assert metrics.total(samples, metrics.ROUND_TRIPS) == 41
    assert metrics.total(samples, metrics.HTTP_REQUESTS) == 7
    assert metrics.total(samples, metrics.HTTP_REQUESTS, status="304") == 4
    assert metrics.total(samples, "gateway_absent_total") is None
    assert metrics.total(None, metrics.ROUND_TRIPS) is None
    # The copy's size is sampled, the lookups counter and `_created` series are not.
    assert metrics.view_cache_sizes(samples) == {"gateway_view_cache_local_bytes": 15420}


def test_round_trips_per_request() -> None:
    assert metrics.per_request(100, 1107, 1000) == 1.007
    assert metrics.per_request(None, 5, 10) is None
    assert metrics.per_request(1, 5, 0) is None


def test_a_process_tree_sums_its_children() -> None:
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', " \
        "'import time; time.sleep(30)']); time.sleep(30)"  # fmt: skip
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 10
        while len(process_tree(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        tree = process_tree(parent.pid)
        assert tree[0] == parent.pid and len(tree) == 2
        rss, processes = tree_rss_kib(parent.pid)
        alone, _ = tree_rss_kib(tree[1])
        assert processes == 2 and rss > alone > 0
        assert tree_cpu_seconds(parent.pid) >= tree_cpu_seconds(tree[1]) > 0
    finally:
        for pid in reversed(process_tree(parent.pid)):
            subprocess.run(["kill", str(pid)], check=False)
        parent.wait()


def test_growth_from_the_second_minute() -> None:
    # 5 KiB/s while warming up, then 1 KiB/s from 60 s on.
    samples = [
        {"elapsed_s": t, "rss_kib": 1000 + (t if t >= 60 else 5 * t)} for t in range(0, 181, 30)
    ]
    rss = growth(samples)
    assert (rss["first_kib"], rss["last_kib"], rss["max_kib"]) == (1000, 1180, 1180)
    assert rss["settled_kib"] == 1060 and rss["settled_to_last_kib"] == 120
    assert rss["settled_slope_kib_per_min"] == 60.0
    short = growth(samples[:2])
    assert short["settled_kib"] is None and short["first_to_last_kib"] == 150


def test_the_bare_app_answers_a_held_tag_with_304() -> None:
    app = create_bare_app(b'{"items": []}', "application/json", "/v1/mcp-servers", '"t1"')
    with TestClient(app) as client:
        full = client.get("/v1/mcp-servers")
        held = client.get("/v1/mcp-servers", headers={"If-None-Match": '"t1"'})
        other = client.get("/v1/mcp-servers", headers={"If-None-Match": '"t0"'})
    assert (full.status_code, full.headers["etag"], full.content) == (200, '"t1"', b'{"items": []}')
    assert (held.status_code, held.headers["etag"], held.content) == (304, '"t1"', b"")
    assert other.status_code == 200


def _answers(raw: bytes, count: int) -> list[tuple[int, bool]]:
    async def read() -> list[tuple[int, bool]]:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        return [await _read_answer(reader) for _ in range(count)]

    return asyncio.run(read())


def test_the_pacer_reads_each_answer_to_its_end() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
        b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n'
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    )
    assert _answers(raw, 4) == [(200, True), (304, True), (200, True), (503, False)]


def _row(key: str, rps: float, trips: float | None = None) -> dict[str, object]:
    row: dict[str, object] = {
        "key": key, "label": key, "note": "", "rps": rps, "p50_ms": 1.0, "p99_ms": 2.0,
        "non_2xx": 0, "socket_errors": {}, "server_cpu_ms_per_request": 0.5,
        "bytes_per_request": 400,
    }  # fmt: skip
    if trips is not None:
        row["redis_round_trips_per_request"] = trips
    return row


def test_the_304_row_is_set_against_the_bare_304() -> None:
    run = {
        "endpoints": [
            _row("bare", 10000),
            _row("bare_304", 8000),
            _row("view_304", 6400, trips=1.01),
        ]
    }
    summary = {row["key"]: row for row in summary_rows([run])}
    assert summary["view_304"]["vs_bare"] == 0.64
    assert summary["view_304"]["vs_bare_304"] == 0.8
    assert summary["view_304"]["redis_round_trips_per_request"] == 1.01
    assert "redis_round_trips_per_request" not in summary["bare_304"]
    lines = table(list(summary.values()), 1).splitlines()
    assert lines[0].endswith("| server CPU ms/req | Redis RT/req |")
    assert lines[-1].endswith("| 0.500 | 1.01 |") and lines[2].endswith("| 0.500 | - |")
