"""`Origin` on /mcp (the MCP transport spec's DNS-rebinding defence) and CORS for the browser
clients allowed there (GATEWAY_ALLOWED_ORIGINS). A request with an `Origin` that is not
listed is a 403 before anything else is done; a listed origin's preflight (OPTIONS) is
answered here, without a token, and every answer to it — a 401 raised by the bearer
middleware too, hence a `before_send` hook — gets the CORS headers (with `WWW-Authenticate`
exposed, so a browser client can read where to log in). A request without `Origin` is not a
browser's: it passes, and the bearer token decides."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

from gateway.api.edge.paths import request_path
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


def origin_middleware(allowed: Iterable[str]) -> Callable[[ASGIApp], ASGIApp]:
    origins = frozenset(origin.encode() for origin in allowed)

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP or request_path(scope) not in GUARDED_PATHS:
                await app(scope, receive, send)
                return
            origin = _header(scope, b"origin")
            if origin is None:
                await app(scope, receive, send)
                return
            if origin not in origins:
                await _answer(send, 403, [(b"content-type", b"application/json")], _REFUSED)
                return
            if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
                preflight = [
                    (b"access-control-allow-origin", origin),
                    (b"vary", b"Origin"),
                    (b"access-control-allow-methods", b"POST, OPTIONS"),
                    (b"access-control-allow-headers", _ALLOW_HEADERS),
                    (b"access-control-max-age", b"600"),
                ]
                await _answer(send, 204, preflight, b"")
                return
            await app(scope, receive, send)

        return middleware

    return wrap


def cors_headers(allowed: Iterable[str]) -> Callable[[Message, Scope], Awaitable[None]]:
    """The `before_send` hook: a listed origin's answers from /mcp carry the CORS headers (the
    middleware refused every other origin already)."""
    origins = frozenset(origin.encode() for origin in allowed)

    async def hook(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start" or not origins:
            return
        origin = _header(scope, b"origin")
        if origin not in origins or request_path(scope) not in GUARDED_PATHS:
            return
        headers = list(message.get("headers") or ())
        if any(name == b"access-control-allow-origin" for name, _ in headers):
            return  # hooks run once per send wrapper: a mount's answer passes two
        headers += [
            (b"access-control-allow-origin", origin),
            (b"vary", b"Origin"),
            (b"access-control-expose-headers", _EXPOSE_HEADERS),
        ]
        message["headers"] = headers  # type: ignore[typeddict-unknown-key]

    return hook
