"""The floor: a bare Litestar app answering the merged view's bytes."""

from __future__ import annotations

from bench.harness.endpoint import Endpoint

BARE = Endpoint(
    "bare",
    "bare Litestar app (view bytes)",
    "GET",
    "/v1/mcp-servers",
    target="bare",
    note="bench/bare_app.py: fixed bytes, same uvicorn settings, no auth/policy/Redis",
)
