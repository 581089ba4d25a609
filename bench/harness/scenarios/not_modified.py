"""A client polling its view with the tag it holds: `GET /v1/mcp-servers?limit=500` (the
path of `view_warm`) with `If-None-Match: <ETag>`, the ETag the gateway gave the measured
user's view in one GET after seeding. While the view does not change the answer is `304 Not
Modified` with no body (headers only).

- `view_304`: through the gateway as on every gateway row (scenarios/__init__.py): auth, the
  rate limit (counted, never reached), the view's generations read (the cache must vouch the
  tag is current: one Redis round trip), the `mcp_server.list` decision logged, then 304.
- `bare_304`: the floor under it: bench/bare_app.py `--etag <the same ETag>` as a second
  bare process (same uvicorn settings), answering 304 with the ETag and no body when
  If-None-Match equals its tag. The summary's `vs_bare_304` is view_304's req/s over it.

Both are probed first and skipped with a note unless the probe answers 304 (a gateway that
ignores If-None-Match, e.g. a baseline under --gateway-src, would send the whole view under
a 304 label). wrk counts statuses >= 400 as errors: a 304 is a success; `bytes_per_request`
shows what came back (headers only for a 304, ~15 KB at 1x for the whole view).
"""

from __future__ import annotations

from bench.harness.endpoint import Endpoint
from bench.harness.tenant import VIEW_PATH

VIEW_304 = Endpoint(
    "view_304",
    "GET /v1/mcp-servers (304)",
    "GET",
    VIEW_PATH,
    if_none_match=True,
    expect_status=304,
    note="merged view with If-None-Match: the current ETag: 304, no body",
)
BARE_304 = Endpoint(
    "bare_304",
    "bare Litestar app (304)",
    "GET",
    "/v1/mcp-servers",
    target="bare_304",
    if_none_match=True,
    expect_status=304,
    note="bench/bare_app.py --etag: 304 with no body when If-None-Match equals its tag",
)
