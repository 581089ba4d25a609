"""One server at a time, through the gateway as on every gateway row (scenarios/__init__.py:
HS256 auth, Redis stores, decision log, rate limit counted and never reached):

- `server_get`: `GET /v1/mcp-servers/{id}`, the measured user's first personal server, no
  body: the same question every time.
- `server_patch`: `PATCH /v1/mcp-servers/{id}` with `{"description": "patched by the
  harness"}`, each request on the next of the user's 20·N personal servers: two decisions
  (read, update) with new input each time, a Redis write and a generation INCR.
- `server_create`: `POST /v1/mcp-servers` with `{"name": "x", "transport": "stdio",
  "command": "mcp"}`, each request as the next of 64 users `creator0..63` (not the measured
  user, whom the seed did not create; one user would reach the 500-server quota within a
  second): a decision on new input every time, a Redis write.
"""

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
