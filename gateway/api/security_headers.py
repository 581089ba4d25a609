"""Security headers on every response, errors from middleware included (a `before_send` hook:
Litestar's exception handling answers a 401 from the authentication middleware outside any
middleware of ours). JSON for API clients: nothing a browser should sniff, frame, cache or
refer onwards. The API documentation pages under /schema run scripts and styles, so they get
no Content-Security-Policy. HSTS belongs to whatever terminates TLS in front."""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

_ALWAYS = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-resource-policy", "same-origin"),
)
_API_CSP = "default-src 'none'; frame-ancestors 'none'"


async def add_security_headers(message: Message, scope: Scope) -> None:
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in _ALWAYS:
        headers[name] = value
    if not scope.get("path", "").startswith("/schema"):
        headers["content-security-policy"] = _API_CSP
    if "cache-control" not in headers:
        headers["cache-control"] = "no-store"
