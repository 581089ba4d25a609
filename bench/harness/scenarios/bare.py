"""The floor under every gateway row: `GET /v1/mcp-servers` on bench/bare_app.py, a bare
Litestar app in its own uvicorn process with the gateway's uvicorn settings, answering the
exact bytes (and content type) of the measured user's merged view captured after seeding
(15 KB at 1x). No auth (the bearer token wrk sends is ignored), no policy, no rate limit, no
Redis, no decision log: what Litestar, uvicorn and the loopback cost. Every row's `vs bare`
is its req/s over this row's.
"""

from __future__ import annotations

from pathlib import Path

from bench._process import Server, start_local
from bench.harness.endpoint import Endpoint
from bench.harness.tenant import Tenant

BARE = Endpoint(
    "bare",
    "bare Litestar app (view bytes)",
    "GET",
    "/v1/mcp-servers",
    target="bare",
    note="bench/bare_app.py: fixed bytes, same uvicorn settings, no auth/policy/Redis",
)


BARE_GATEWAY_HTTP = Endpoint(
    "bare_gateway_http",
    "bare Litestar app, gateway serve's HTTP",
    "GET",
    "/v1/mcp-servers",
    target="bare_gateway_http",
    note="bench/bare_app.py --gateway-http: the same bytes on uvicorn as gateway serve sets it "
    "up (its HTTP protocol: one system call per answer; no server header)",
)


def start(
    tenant: Tenant,
    tmp: Path,
    name: str = "bare",
    etag: str | None = None,
    gateway_http: bool = False,
) -> Server:
    """bench/bare_app.py as its own uvicorn process, answering the bytes of the tenant's view;
    with `etag`, tagged with it and a 304 to If-None-Match holding it (scenarios/
    not_modified.py)."""
    body_file = tmp / "view.json"
    body_file.write_bytes(tenant.view_bytes)
    argv = ["-m", "bench.bare_app", "--body", str(body_file),
            "--content-type", tenant.view_content_type]  # fmt: skip
    if etag is not None:
        argv += ["--etag", etag]
    if gateway_http:
        argv.append("--gateway-http")
    bare = start_local(name, argv, tmp)
    try:
        bare.wait_ready("/v1/mcp-servers")
    except BaseException:
        bare.stop()
        raise
    return bare
