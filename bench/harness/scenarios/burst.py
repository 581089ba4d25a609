"""The burst, after the rows: `--burst` (500) `GET /v1/mcp-servers?limit=500` at once, each
on its own connection, as 50 users `u0..u49` that the seed did not create (no servers in
their views), plus 150 anonymous `/readyz` probes. The
gateway admits GATEWAY_MAX_CONCURRENT_REQUESTS (256, the default) at a time; beyond it the
answer must be a 503 with Retry-After, never another 5xx, and `/readyz` must stay 200. Auth
on, Redis stores, rate limit counted and never reached, as on every gateway row.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from bench._auth import bearer
from bench.harness import log
from bench.harness.tenant import VIEW_PATH


def burst(base: str, size: int) -> dict[str, Any]:
    """`size` merged-view requests at once, each on its own connection (50 users), plus 150
    anonymous /readyz probes: what each got. Up to GATEWAY_MAX_CONCURRENT_REQUESTS (256)
    are served; beyond it the answer must be a 503 with Retry-After, never another 5xx."""
    import asyncio

    import httpx

    async def fire() -> tuple[list[httpx.Response], list[httpx.Response], float]:
        limits = httpx.Limits(max_connections=size + 150, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
            lists = [client.get(VIEW_PATH, headers=bearer(f"u{i % 50}")) for i in range(size)]
            probes = [client.get("/readyz") for _ in range(150)]
            started = time.monotonic()
            answers = await asyncio.gather(*lists, *probes)
            return answers[:size], answers[size:], time.monotonic() - started

    listed, probed, seconds = asyncio.run(fire())
    statuses = Counter(str(r.status_code) for r in listed)
    other_5xx = sum(1 for r in listed if r.status_code >= 500 and r.status_code != 503)
    result = {
        "requests": size,
        "seconds": round(seconds, 2),
        "statuses": dict(statuses),
        "503_with_retry_after": sum(
            1 for r in listed if r.status_code == 503 and r.headers.get("retry-after")
        ),
        "other_5xx": other_5xx,
        "readyz_statuses": dict(Counter(str(r.status_code) for r in probed)),
    }
    log(f"burst of {size}: {result}")
    return result
