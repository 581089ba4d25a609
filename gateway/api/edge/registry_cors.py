"""CORS on the MCP registry (`/v0.1`): open to every origin for GET, without credentials, as
public registries are (a browser-based gallery reads it from any page). A token is sent as an
`Authorization` header, never a cookie, so `*` exposes nothing a page could not ask for. The
edge (gateway/api/edge/layer.py) adds these to every answer under the prefix, errors and
preflights too."""

from __future__ import annotations

from typing import Any

REGISTRY_PREFIX = "/v0.1/"
_ALWAYS = (
    (b"access-control-allow-origin", b"*"),
    (
        b"access-control-expose-headers",
        b"x-decision-id, x-request-id, retry-after, www-authenticate",
    ),
)
_PREFLIGHT = (
    (b"access-control-allow-methods", b"GET, OPTIONS"),
    (b"access-control-allow-headers", b"authorization, accept, content-type"),
    (b"access-control-max-age", b"600"),
)
_OURS = frozenset(name for name, _ in (*_ALWAYS, *_PREFLIGHT))


def add_registry_cors(headers: list[Any], method: str) -> None:
    headers[:] = [(k, v) for k, v in headers if k.lower() not in _OURS]
    headers.extend(_ALWAYS)
    if method == "OPTIONS":
        headers.extend(_PREFLIGHT)
