"""Latency of `GET /v1/marketplace/servers?limit=200` through the app, and the policy's share.

Run by hand (not a test): `.venv/bin/python -m bench.marketplace [--requests N] [--redis]`.
For each (listings, servers in view) pair it writes a synthetic catalog to a temp dir, starts
the app in-process (litestar AsyncTestClient; memory stores, or a throwaway redis-server with
`--redis`), seeds through the HTTP API one caller in 3 enterprises, the first restricting
installs to its approved list (so most listings come back denied: the largest answer), and
times sequential requests. The policy time comes from the decision log's `timer_rego_query_eval_ns`.

What is in the loop: the whole app in-process (no network), HS256 auth on, the embedded
engine, the decision log in memory (or Redis), no request body; the per-subject rate limit
at its default (1,200 requests per 10 s), which a row's `--requests` + 30 warm-up stay under
at the default 300 (each row is a new app; with `--redis` the database is flushed between
rows).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from bench._auth import SECRET, bearer
from bench._catalog import listing_id, write_catalog
from bench._redis import flush
from gateway.app import create_app
from gateway.config import Settings
from tests.fixtures.gateway import decision_records

CALLER, OWNER = "bench", "olivia"
ENTERPRISES = 3
WARMUP = 30
LIMIT = 200
LISTING_COUNTS = (50, 100, 200)
SERVER_COUNTS = (10, 50, 100)
BATCH_PATH = "gateway/marketplace/listings"


class Http:
    def __init__(self, client: AsyncTestClient[Litestar], user: str) -> None:
        self.client = client
        self.headers = bearer(user)

    async def call(self, method: str, url: str, body: Any = None, expect: int = 200) -> Any:
        response = await self.client.request(method, url, headers=self.headers, json=body)
        if response.status_code != expect:
            raise SystemExit(f"{method} {url}: {response.status_code} {response.text}")
        return response.json() if response.content else None


async def seed(
    client: AsyncTestClient[Litestar], listings: int, servers: int, restricted: bool = True
) -> None:
    """`servers` in the caller's view: 40% personal, 60% auto-enabled across 3 enterprises;
    every other one comes from a listing. Each enterprise also approves 5 listings it does
    not auto-enable. If `restricted`, the first enterprise restricts installs to its approved
    list (so nearly every listing comes back denied: the largest policy answer)."""
    owner, caller = Http(client, OWNER), Http(client, CALLER)
    personal = servers * 2 // 5
    auto_each = (servers - personal) // ENTERPRISES
    used = 0

    def next_listing() -> str:
        nonlocal used
        used += 1
        return listing_id((used * 7) % listings)

    for i in range(personal):
        body: dict[str, Any] = {"name": f"personal {i}", "transport": "stdio", "command": "uvx"}
        if i % 2 == 0:
            body["marketplace_listing_id"] = next_listing()
        await caller.call("POST", "/v1/mcp-servers", body, expect=201)
    for e in range(ENTERPRISES):
        ent = (await owner.call("POST", "/v1/enterprises", {"name": f"Ent {e}"}, expect=201))["id"]
        await owner.call(
            "PUT", f"/v1/enterprises/{ent}/members/{CALLER}", {"role": "member"}, expect=202
        )
        await caller.call("POST", f"/v1/invitations/{ent}/accept")
        for i in range(auto_each + 5):
            body = {
                "name": f"ent {e} server {i}",
                "transport": "streamable_http",
                "url": f"https://mcp.example.com/{e}/{i}",
                "auto_enabled": i < auto_each,
            }
            if i % 2 == 0 or i >= auto_each:
                body["marketplace_listing_id"] = next_listing()
            await owner.call(
                "POST", f"/v1/enterprise/mcp-servers?enterprise_id={ent}", body, expect=201
            )
        if e == 0 and restricted:
            await owner.call(
                "PATCH", f"/v1/enterprises/{ent}", {"restrict_installs_to_approved": True}
            )
    view = await caller.call("GET", "/v1/mcp-servers?limit=500")
    assert len(view["items"]) == personal + auto_each * ENTERPRISES, len(view["items"])


@dataclass
class Row:
    listings: int
    servers: int
    restricted: bool
    denied: int
    request_ns: list[int]
    batch_ns: list[int]
    decisions_ns: list[int]
    decisions_per_request: float

    def line(self) -> str:
        ms = sorted(x / 1e6 for x in self.request_ns)
        q = statistics.quantiles(ms, n=100, method="inclusive")
        batch_us = statistics.fmean(self.batch_ns) / 1000
        all_us = statistics.fmean(self.decisions_ns) / 1000
        mean = statistics.fmean(ms)
        return (
            f"| {self.listings:>8} | {self.servers:>7} | {'yes' if self.restricted else 'no':>10} "
            f"| {self.denied:>6} | {q[49]:>6.2f} "
            f"| {q[94]:>6.2f} | {mean:>6.2f} | {batch_us:>8.0f} | {all_us:>9.0f} "
            f"| {self.decisions_per_request:>9.1f} | {mean * 1000 / self.listings:>8.1f} |"
        )


HEADER = (
    "| listings | servers | restricted | denied | p50 ms | p95 ms | mean ms | batch µs "
    "| policy µs | decisions | µs/listing |\n"
    "|---------:|--------:|-----------:|-------:|-------:|-------:|--------:|---------:"
    "|----------:|----------:|-----------:|"
)


async def run_one(
    catalog: Path, listings: int, servers: int, restricted: bool, n: int, redis_url: str | None
) -> Row:
    settings = Settings(jwt_secret=SECRET, marketplace_catalog=str(catalog), redis_url=redis_url)
    if redis_url:
        await flush(redis_url)
    async with AsyncTestClient(create_app(settings)) as client:
        await seed(client, listings, servers, restricted)
        caller = Http(client, CALLER)
        url = f"/v1/marketplace/servers?limit={LIMIT}"
        request_ns: list[int] = []
        batch_ns: list[int] = []
        decisions_ns: list[int] = []
        decisions = 0
        denied = 0
        for i in range(WARMUP + n):
            before = len(await decision_records(client))
            started = time.perf_counter_ns()
            response = await client.get(url, headers=caller.headers)
            elapsed = time.perf_counter_ns() - started
            if response.status_code != 200:
                raise SystemExit(f"GET {url}: {response.status_code} {response.text}")
            if i < WARMUP:
                continue
            taken = (await decision_records(client))[before:]
            batch = [r for r in taken if r.path == BATCH_PATH]
            assert len(batch) == 1, "one batch decision per request"
            request_ns.append(elapsed)
            batch_ns.append(batch[0].metrics["timer_rego_query_eval_ns"])
            decisions_ns.append(sum(r.metrics["timer_rego_query_eval_ns"] for r in taken))
            decisions += len(taken)
            denied = sum(not item["allowed"] for item in response.json()["items"])
        per_request = decisions / n
        return Row(
            listings, servers, restricted, denied, request_ns, batch_ns, decisions_ns, per_request
        )


@contextmanager
def maybe_redis(enabled: bool) -> Iterator[tuple[str, str] | None]:
    if not enabled:
        with nullcontext(None) as nothing:
            yield nothing
        return
    from bench._redis import throwaway_redis

    with throwaway_redis() as started:
        yield started


async def main_async(n: int, redis_url: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-marketplace-") as tmp:
        catalogs = {count: write_catalog(Path(tmp), count) for count in LISTING_COUNTS}
        print(HEADER)
        scenarios = [(li, se, True) for li in LISTING_COUNTS for se in SERVER_COUNTS]
        scenarios += [(li, 50, False) for li in LISTING_COUNTS]  # the default: no restriction
        for listings, servers, restricted in scenarios:
            row = await run_one(catalogs[listings], listings, servers, restricted, n, redis_url)
            print(row.line(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=300, help="timed requests per row")
    parser.add_argument("--redis", action="store_true", help="Redis stores (throwaway server)")
    args = parser.parse_args()
    # The app's per-request httpx log lines and Litestar's deprecation notices are noise here.
    warnings.simplefilter("ignore", DeprecationWarning)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with maybe_redis(args.redis) as redis_info:
        stores = f"redis-server {redis_info[1]} (localhost TCP)" if redis_info else "memory"
        print(
            f"nproc {cpus} | Python {platform.python_version()} | msgspec {msgspec.__version__} "
            f"| {platform.machine()} | stores: {stores} | embedded engine (regopy)"
        )
        print(
            f"GET /v1/marketplace/servers?limit={LIMIT}, {args.requests} sequential requests per "
            f"row after {WARMUP} warm-up; caller in {ENTERPRISES} enterprises, one restricting"
        )
        started = time.monotonic()
        redis_url = redis_info[0] if redis_info else None
        asyncio.run(main_async(args.requests, redis_url))
        print(f"(benchmark took {time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    main()
