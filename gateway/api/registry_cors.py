"""CORS on the MCP registry (`/v0.1`): open to every origin for GET, without credentials, as
public registries are (a browser-based gallery reads it from any page). A token is sent as an
`Authorization` header, never a cookie, so `*` exposes nothing a page could not ask for."""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

REGISTRY_PREFIX = "/v0.1/"
_EXPOSE = "x-decision-id, x-request-id, retry-after, www-authenticate"


async def registry_cors_headers(message: Message, scope: Scope) -> None:
    """The `before_send` hook: every answer under `/v0.1/` (errors and preflights too)."""
    if message["type"] != "http.response.start" or not scope["path"].startswith(REGISTRY_PREFIX):
        return
    headers = MutableScopeHeaders.from_message(message)
    headers["access-control-allow-origin"] = "*"
    headers["access-control-expose-headers"] = _EXPOSE
    if scope.get("method") == "OPTIONS":
        headers["access-control-allow-methods"] = "GET, OPTIONS"
        headers["access-control-allow-headers"] = "authorization, accept, content-type"
        headers["access-control-max-age"] = "600"
