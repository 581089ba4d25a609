"""What logging every decision costs: merged-view throughput (`GET /v1/mcp-servers`) with
the decision log on, off, and required.

Run by hand (not a test): `.venv/bin/python -m bench.audit_log [--requests N] [--redis]`.
The app runs in-process (litestar AsyncTestClient; memory stores and log, or a throwaway
redis-server with `--redis`); one caller with 10 personal servers and a membership in 3
enterprises each approving 5 auto-enabled servers; `--concurrency` requests in flight.

- on: the default. Records are masked and appended by the writer, off the request path;
  the clock stops only when the writer has written every record of the run, so work it
  deferred is counted.
- off: the writer's `submit` replaced by a no-op (a benchmark-only stand-in: the product
  has no switch to stop logging). What the Authorizer does per decision remains.
- required: GATEWAY_AUDIT_REQUIRED=true, every record written before its decision counts.

In every arm: HS256 auth on, the embedded engine, the per-subject rate limit off (one caller
sends every request), policy polling off, no request body; memory stores or, with
`--redis`, Redis stores and decision log (flushed between arms).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import statistics
import time
from collections.abc import Sequence
from typing import Any

import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from bench._auth import SECRET, bearer
from bench._redis import flush, throwaway_redis
from gateway.app import create_app
from gateway.audit.records import DecisionRecord
from gateway.config import Settings
from tests.fixtures.gateway import on_app_loop

CALLER = "bench"
OWNERS = ("owner1", "owner2", "owner3")


async def _seed(client: AsyncTestClient[Litestar]) -> None:
    me = bearer(CALLER)
    for i in range(10):
        server = {"name": f"s{i}", "transport": "stdio", "command": "mcp", "args": ["--port", "1"]}
        assert (await client.post("/v1/mcp-servers", json=server, headers=me)).status_code == 201
    for owner in OWNERS:
        them = bearer(owner)
        ent = (await client.post("/v1/enterprises", json={"name": owner}, headers=them)).json()
        invite = await client.put(
            f"/v1/enterprises/{ent['id']}/members/{CALLER}", json={"role": "member"}, headers=them
        )
        assert invite.status_code == 202
        await client.post(f"/v1/invitations/{ent['id']}/accept", headers=me)
        for i in range(5):
            managed = {
                "name": f"{owner}-{i}",
                "transport": "streamable_http",
                "url": f"https://mcp{i}.example.com/mcp",
                "headers": {"Authorization": "Bearer ${TOKEN}"},
                "env": ["TOKEN"],
                "auto_enabled": True,
            }
            created = await client.post(
                f"/v1/enterprise/mcp-servers?enterprise_id={ent['id']}", json=managed, headers=them
            )
            assert created.status_code == 201, created.text


class _Discard:
    """The 'off' arm's writer.submit."""

    def __call__(self, records: Sequence[DecisionRecord]) -> None:
        return None


async def _arm(settings: Settings, arm: str, n: int, concurrency: int) -> dict[str, Any]:
    if arm == "required":
        settings = msgspec.structs.replace(settings, audit_required=True)
    async with AsyncTestClient(create_app(settings)) as client:
        runtime = client.app.state.runtime
        writer = runtime.services.audit_writer
        await _seed(client)
        if arm == "off":
            writer.submit = _Discard()  # type: ignore[method-assign]
        me = bearer(CALLER)
        latencies: list[int] = []
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(n):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                started = time.perf_counter_ns()
                response = await client.get("/v1/mcp-servers", headers=me)
                latencies.append(time.perf_counter_ns() - started)
                assert response.status_code == 200 and len(response.json()["items"]) == 25

        for _ in range(20):  # warm-up
            await client.get("/v1/mcp-servers", headers=me)
        assert await on_app_loop(client, writer.flush(30))
        written_before = writer.snapshot().written
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        served = time.perf_counter() - started
        assert await on_app_loop(client, writer.flush(60))
        drained = time.perf_counter() - started
        stats = writer.snapshot()
        latencies.sort()
        return {
            "arm": arm,
            "requests": n,
            "served_s": served,
            "drained_s": drained,
            "rps": n / drained,
            "p50_ms": statistics.median(latencies) / 1e6,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] / 1e6,
            "records": stats.written - written_before,
            "dropped": stats.dropped,
        }


async def run(n: int, concurrency: int, redis_url: str | None) -> list[dict[str, Any]]:
    # One caller sends every request: the per-subject rate limit (issue 13) would answer 429s,
    # and its per-subject log budget (issue 24) would count its records instead of writing them.
    settings = Settings(
        jwt_secret=SECRET,
        redis_url=redis_url,
        policy_poll_seconds=0,
        rate_limit_requests=0,
        audit_subject_bytes_per_minute=0,
        audit_subject_records_per_minute=0,
    )
    rows = []
    for arm in ("off", "on", "required", "off", "on"):  # twice: the machine drifts
        if redis_url:
            await flush(redis_url)
        rows.append(await _arm(settings, arm, n, concurrency))
        print(_row(rows[-1]), flush=True)
    return rows


def _row(r: dict[str, Any]) -> str:
    return (
        f"| {r['arm']:8} | {r['requests']:6} | {r['rps']:8.1f} | {r['p50_ms']:6.2f} | "
        f"{r['p99_ms']:7.2f} | {r['served_s']:6.2f} | {r['drained_s']:6.2f} | "
        f"{r['records']:7} | {r['dropped']:4} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--redis", action="store_true", help="a throwaway redis-server")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"# {platform.python_version()} on {os.cpu_count()} cores; {args.requests} requests")
    print("| arm      | reqs   | req/s    | p50 ms | p99 ms  | served | drained | records | drop |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    started = time.perf_counter()
    if args.redis:
        with throwaway_redis() as (url, version):
            print(f"# redis {version}")
            asyncio.run(run(args.requests, args.concurrency, url))
    else:
        asyncio.run(run(args.requests, args.concurrency, None))
    print(f"(benchmark took {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
