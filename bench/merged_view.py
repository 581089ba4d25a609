"""Latency of `MergedView.servers(subject)` with the Redis view cache hit, missed, and absent.

Run by hand (not a test): `.venv/bin/python -m bench.merged_view [--hits N --misses N]`.
Starts its own redis-server on a free port; seeds one user in 3 enterprises with 50 servers in
view (20 personal + 3 x 10 auto-enabled; 3 x 5 approved but not auto-enabled stay out).
Every call includes the policy's `scope.view` evaluation, as in the gateway.

What is in the loop: `MergedView` and its parts called directly on one event loop, no HTTP,
so no auth, no rate limit and no request body; Redis stores and the Redis view cache on the
throwaway server; the embedded engine on the shipped policies; decisions logged to the
in-memory decision log.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
import redis

from bench._redis import throwaway_redis
from gateway.audit.masking import Masker
from gateway.audit.memory_log import MemoryDecisionLog
from gateway.audit.recorder import AuditRecorder
from gateway.audit.writer import AuditWriter
from gateway.config import REPO_POLICY_DIR
from gateway.domain.enterprises import Enterprise
from gateway.domain.servers import AnyServer, EnterpriseMCPServer, MCPServerConfig
from gateway.domain.subjects import Membership, Subject
from gateway.policy.decider import Authorizer
from gateway.policy.embedded import EmbeddedRegoEngine
from gateway.services.views import MergedView
from gateway.stores.redis import (
    RedisEnterpriseMCPServerStore,
    RedisEnterpriseStore,
    RedisMCPServerStore,
    redis_client_from_url,
)
from gateway.stores.redis import keys as k
from gateway.stores.redis.view_cache import RedisMergedViewCache, view_key

USER = "alice"
ENTERPRISES = ("ent_bench_a", "ent_bench_b", "ent_bench_c")
PERSONAL = 20
AUTO_PER_ENTERPRISE = 10
OPTIONAL_PER_ENTERPRISE = 5
IN_VIEW = PERSONAL + AUTO_PER_ENTERPRISE * len(ENTERPRISES)
WARMUP = 50
NOW = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass
class Row:
    name: str
    samples_ns: list[int]

    def line(self) -> str:
        us = sorted(s / 1000 for s in self.samples_ns)
        q = statistics.quantiles(us, n=100, method="inclusive")
        mean = statistics.fmean(us)
        return (
            f"| {self.name:<28} | {len(us):>5} | {q[49]:>8.1f} | {q[94]:>8.1f} | {q[98]:>8.1f} "
            f"| {mean:>8.1f} | {1e6 / mean:>8.0f} |"
        )


_TITLES = ("scenario", "n", "p50 µs", "p95 µs", "p99 µs", "mean µs", "ops/s")
_WIDTHS = (28, 5, 8, 8, 8, 8, 8)
HEADER = (
    "| "
    + " | ".join(
        h.ljust(w) if i == 0 else h.rjust(w)
        for i, (h, w) in enumerate(zip(_TITLES, _WIDTHS, strict=True))
    )
    + " |"
)
RULE = "|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(_WIDTHS)) + "|"


async def seed(personal: RedisMCPServerStore, enterprise: RedisEnterpriseMCPServerStore) -> None:
    enterprises = RedisEnterpriseStore(enterprise._redis)
    for ent in ENTERPRISES:  # an enterprise server needs its enterprise
        await enterprises.create(
            Enterprise(id=ent, name=ent, kind="organization", created_at=NOW), "owner"
        )
    for i in range(PERSONAL):
        await personal.create(
            MCPServerConfig(
                id=f"mcp_bench{i:03d}",
                user_id=USER,
                name=f"personal {i}",
                description="a personal MCP server used by the benchmark",
                transport="stdio",
                command="uvx",
                args=["mcp-server-fetch", "--flag", str(i)],
                env=["API_KEY", "OTHER_TOKEN"],
                credentials_set=["API_KEY"],
                created_at=NOW,
                updated_at=NOW,
            )
        )
    for ent in ENTERPRISES:
        for i in range(AUTO_PER_ENTERPRISE + OPTIONAL_PER_ENTERPRISE):
            await enterprise.create(
                EnterpriseMCPServer(
                    id=f"emcp_{ent}_{i:03d}",
                    enterprise_id=ent,
                    name=f"{ent} server {i}",
                    description="an approved enterprise MCP server used by the benchmark",
                    transport="streamable_http",
                    url=f"https://mcp.example.com/{ent}/{i}/mcp",
                    env=["TEAM_TOKEN"],
                    auto_enabled=i < AUTO_PER_ENTERPRISE,
                    created_by="owner",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )


async def measure(
    name: str,
    call: Callable[[], Awaitable[object]],
    n: int,
    before: Callable[[], Awaitable[object]] | None = None,
) -> Row:
    """Time `call` n times (after a warm-up); `before` runs untimed ahead of each call."""
    samples: list[int] = []
    for i in range(WARMUP + n):
        if before is not None:
            await before()
        started = time.perf_counter_ns()
        await call()
        elapsed = time.perf_counter_ns() - started
        if i >= WARMUP:
            samples.append(elapsed)
    return Row(name, samples)


async def run(url: str, hits: int, misses: int) -> tuple[list[Row], dict[str, int]]:
    client = redis_client_from_url(url)
    try:
        engine = EmbeddedRegoEngine(REPO_POLICY_DIR)
        writer = AuditWriter(MemoryDecisionLog(), Masker(engine))
        writer.start()
        authorizer = Authorizer(engine, AuditRecorder(writer, labels={"engine": engine.name}))
        personal = RedisMCPServerStore(client)
        enterprise = RedisEnterpriseMCPServerStore(client)
        await seed(personal, enterprise)
        cache = RedisMergedViewCache(client, lambda: engine.revision)
        cached = MergedView(authorizer, personal, enterprise, cache)
        uncached = MergedView(authorizer, personal, enterprise)
        subject = Subject(
            id=USER,
            email=f"{USER}@example.com",
            memberships={e: Membership(role="member", kind="organization") for e in ENTERPRISES},
        )
        view = await cached.servers(subject)
        assert len(view) == IN_VIEW and view == await uncached.servers(subject)

        async def bump() -> None:  # what every server write of the user does, via the store
            await client.incr(k.user_generation(USER))

        async def policy_only() -> None:
            await authorizer.view_scope(subject)

        scope = await authorizer.view_scope(subject)

        async def stores_only() -> None:
            await uncached.compute(scope)

        async def must_not_compute() -> list[AnyServer]:
            raise AssertionError("the cache-layer scenario missed")

        async def cache_layer_hit() -> None:
            await cache.get_or_compute(USER, scope, must_not_compute)

        def servers() -> Awaitable[object]:
            return cached.servers(subject)

        before_hits, before_misses = cache.hits, cache.misses
        rows = [
            await measure("servers(): cache hit", servers, hits),
            await measure("servers(): cache miss", servers, misses, before=bump),
            await measure("servers(): no cache", lambda: uncached.servers(subject), misses),
            await measure("  policy scope.view alone", policy_only, hits),
            await measure("  cache lookup alone (hit)", cache_layer_hit, hits),
            await measure("  store reads alone", stores_only, misses),
        ]
        assert cache.hits - before_hits == 2 * (WARMUP + hits), "a hit scenario missed"
        assert cache.misses - before_misses == WARMUP + misses, "the miss scenario hit"
        assert cache.errors == 0
        entry = await client.strlen(view_key(USER))
        return rows, {"entry_bytes": int(entry), "servers_in_view": len(view)}
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hits", type=int, default=2000)
    parser.add_argument("--misses", type=int, default=500)
    args = parser.parse_args()
    with throwaway_redis() as (url, redis_version):
        started = time.monotonic()
        rows, facts = asyncio.run(run(url, args.hits, args.misses))
        took = time.monotonic() - started
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"nproc {cpus} | Python {platform.python_version()} | redis-server {redis_version} "
        f"(localhost TCP) | redis-py {redis.__version__} | msgspec {msgspec.__version__} "
        f"| {platform.machine()}"
    )
    print(
        f"{facts['servers_in_view']} servers in view (user in {len(ENTERPRISES)} enterprises), "
        f"cached entry {facts['entry_bytes']} bytes; sequential calls, one event loop"
    )
    print(HEADER)
    print(RULE)
    for row in rows:
        print(row.line())
    print(f"(benchmark took {took:.1f} s)")


if __name__ == "__main__":
    main()
