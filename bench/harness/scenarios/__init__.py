"""The rows of the harness, one module per scenario, in the order they run.

What every gateway row shares (bench/_process.py, bench/harness/gateway.py): the gateway as
a real process (`gateway serve`, one worker, uvloop and httptools), the embedded engine on
the shipped policies, HS256 auth on (each request carries the bearer token of the measured
user `bench`, or of its row's callers), Redis stores, view cache and decision log (written
off the request path, not required) on a throwaway redis-server, memory secrets, WARNING
logs, and the per-subject rate limit on but set to 10,000,000 requests per window: counted
(its Redis round trip is part of each request) and never reached. The tenant is
bench/harness/tenant.py's. wrk is closed loop: `--connections` keep one request in flight
each, after a discarded `--warmup`.
"""

from __future__ import annotations

from bench.harness.scenarios import bare, marketplace, mcp, not_modified, servers, view

# The order matters: `create` adds servers to the stores, so it runs last: every row
# before it sees the tenant as seeded.
ENDPOINTS = (
    bare.BARE,
    bare.BARE_GATEWAY_HTTP,
    not_modified.BARE_304,
    view.WARM,
    not_modified.VIEW_304,
    view.COLD,
    servers.GET,
    servers.PATCH,
    marketplace.PAGE,
    mcp.DIRECT,
    mcp.PROXIED,
    mcp.LIST_DIRECT,
    mcp.LIST,
    servers.CREATE,
)
