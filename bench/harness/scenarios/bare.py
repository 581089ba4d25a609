"""The floor: a bare Litestar app answering the merged view's bytes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench import REPO
from bench.harness.endpoint import Endpoint
from bench.harness.gateway import Server
from bench.harness.tenant import Tenant

BARE = Endpoint(
    "bare",
    "bare Litestar app (view bytes)",
    "GET",
    "/v1/mcp-servers",
    target="bare",
    note="bench/bare_app.py: fixed bytes, same uvicorn settings, no auth/policy/Redis",
)


def start(tenant: Tenant, tmp: Path) -> Server:
    """bench/bare_app.py as its own uvicorn process, answering the bytes of the tenant's view."""
    from tests.fixtures.redis_server import free_port

    body_file = tmp / "view.json"
    body_file.write_bytes(tenant.view_bytes)
    bare_port = free_port()
    bare = Server(
        "bare",
        [sys.executable, "-m", "bench.bare_app", "--port", str(bare_port),
         "--body", str(body_file), "--content-type", tenant.view_content_type],
        REPO,
        {**os.environ, "PYTHONPATH": str(REPO)},
        bare_port,
        tmp,
    )  # fmt: skip
    try:
        bare.wait_ready("/v1/mcp-servers")
    except BaseException:
        bare.stop()
        raise
    return bare
