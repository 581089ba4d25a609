"""Security headers on every response, errors from middleware included (the edge adds them,
gateway/api/edge/layer.py: it is outside Litestar's exception handling, which answers a 401
from the authentication middleware). JSON for API clients: nothing a browser should sniff,
frame, cache or refer onwards. The API documentation pages under /schema run scripts and
styles, so they get no Content-Security-Policy. HSTS belongs to whatever terminates TLS in front."""

from __future__ import annotations

from typing import Any

_ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
_NO_REFERRER = (b"referrer-policy", b"no-referrer")
# The console's forms post to itself: under `no-referrer` Chromium sends `Origin: null`,
# and the same-origin check of its POSTs (CSRF) needs the real origin.
_SAME_ORIGIN_REFERRER = (b"referrer-policy", b"same-origin")
_API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_NO_STORE = (b"cache-control", b"no-store")
# The console: its own stylesheet, inline SVG, forms to itself, no script at all.
_CONSOLE_CSP = (
    b"content-security-policy",
    b"default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    b"frame-ancestors 'none'; base-uri 'none'",
)


def add_security_headers(headers: list[Any], path: str) -> None:
    """Appended to an answer's raw header list (`path`: as the client asked it)."""
    cached = any(name.lower() == b"cache-control" for name, _ in headers)
    headers.extend(_ALWAYS)
    console = path.startswith("/console")
    headers.append(_SAME_ORIGIN_REFERRER if console else _NO_REFERRER)
    if console:
        headers.append(_CONSOLE_CSP)
    elif not path.startswith("/schema"):
        headers.append(_API_CSP)
    if not cached:
        headers.append(_NO_STORE)
