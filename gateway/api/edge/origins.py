"""`Origin` on /mcp (the MCP transport spec's DNS-rebinding defence) and CORS for the browser
clients allowed there (GATEWAY_ALLOWED_ORIGINS). A request with an `Origin` that is not
listed is a 403 before anything else is done; a listed origin's preflight (OPTIONS) is
answered here, without a token, and every answer to it — a 401 raised by the bearer
middleware too, hence a `before_send` hook — gets the CORS headers (with `WWW-Authenticate`
exposed, so a browser client can read where to log in). A request without `Origin` is not a
browser's: it passes, and the bearer token decides."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar.types import HTTPResponseStartEvent, Scope, Send

from gateway.api.errors import ErrorBody, encode_error

GUARDED_PATHS = frozenset({"/mcp", "/mcp/"})
_ALLOW_HEADERS = (
    b"authorization, content-type, accept, mcp-protocol-version, mcp-method, mcp-name, "
    b"mcp-session-id, last-event-id, x-request-id"
)
_EXPOSE_HEADERS = b"www-authenticate, mcp-session-id, x-request-id, x-decision-id, retry-after"
_REFUSED = encode_error(
    ErrorBody(status_code=403, detail="this Origin may not use /mcp (GATEWAY_ALLOWED_ORIGINS)")
)


def _header(scope: Scope, name: bytes) -> bytes | None:
    return next((value for key, value in scope.get("headers", ()) if key == name), None)


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [*headers, (b"content-length", str(len(body)).encode())],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})


class Origins:
    """The origins GATEWAY_ALLOWED_ORIGINS lists, as the edge (gateway/api/edge/layer.py)
    applies them to requests on /mcp."""

    def __init__(self, allowed: Iterable[str]) -> None:
        self._allowed = frozenset(origin.encode() for origin in allowed)

    @staticmethod
    def of(scope: Scope) -> bytes | None:
        """The request's `Origin`, if it sent one (a browser did)."""
        return _header(scope, b"origin")

    async def answered(self, scope: Scope, origin: bytes, send: Send) -> bool:
        """Answers an unlisted origin (403) or a listed one's preflight (204); False when the
        request goes on."""
        if origin not in self._allowed:
            await _answer(send, 403, [(b"content-type", b"application/json")], _REFUSED)
            return True
        if scope.get("method") == "OPTIONS" and _header(scope, b"access-control-request-method"):
            preflight = [
                (b"access-control-allow-origin", origin),
                (b"vary", b"Origin"),
                (b"access-control-allow-methods", b"POST, OPTIONS"),
                (b"access-control-allow-headers", _ALLOW_HEADERS),
                (b"access-control-max-age", b"600"),
            ]
            await _answer(send, 204, preflight, b"")
            return True
        return False

    def add_cors(self, headers: list[Any], origin: bytes) -> None:
        """A listed origin's answers from /mcp carry the CORS headers (every other origin was
        refused already); the preflight answer has its own."""
        if origin not in self._allowed:
            return
        if any(name == b"access-control-allow-origin" for name, _ in headers):
            return
        headers += [
            (b"access-control-allow-origin", origin),
            (b"vary", b"Origin"),
            (b"access-control-expose-headers", _EXPOSE_HEADERS),
        ]
