"""One server: read, patch, create."""

from __future__ import annotations

from bench.harness.endpoint import Endpoint

GET = Endpoint("server_get", "GET /v1/mcp-servers/{id}", "GET", "/v1/mcp-servers/{server_id}")
PATCH = Endpoint(
    "server_patch",
    "PATCH /v1/mcp-servers/{id}",
    "PATCH",
    "/v1/mcp-servers/{server_id}",
    body='{"description": "patched by the harness"}',
    rotate=True,
    note="each request the next of the user's personal servers (20 x scale): an app "
    "patches many servers, not one hot key 32 times at once",
)
CREATE = Endpoint(
    "server_create",
    "POST /v1/mcp-servers",
    "POST",
    "/v1/mcp-servers",
    body='{"name": "x", "transport": "stdio", "command": "mcp"}',
    creators=64,
    note="a new personal server per request, as each of 64 users in turn: one user "
    "would reach the 500 personal servers quota (data.gateway.quotas) within a second",
)
