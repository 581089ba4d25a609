"""The middleware that counts every request by its route template and status
(`GET /metrics` serves the counts: gateway/api/controllers/metrics.py)."""

from __future__ import annotations

import asyncio
import time

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.edge.paths import route_template
from gateway.api.errors import status_of
from gateway.errors import GatewayError
from gateway.observability.metrics import observe_request

CLIENT_CLOSED = 499  # the client went away before an answer (nginx's convention)


def _status_of(exc: BaseException) -> int:
    """The status the exception handlers will answer for an exception that left the route
    (the authentication middleware raises; Litestar's outer handler answers)."""
    if isinstance(exc, HTTPException):
        return exc.status_code
    if isinstance(exc, GatewayError):
        return status_of(exc)
    if isinstance(exc, asyncio.CancelledError):
        return CLIENT_CLOSED
    return 500


def request_metrics_middleware(app: ASGIApp) -> ASGIApp:
    """Outermost: a request refused by admission is counted too. Runs after routing, so the
    route template is known; a path that matches no route is not counted."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_counted)
        except BaseException as exc:
            if not status:
                status = _status_of(exc)
            raise
        finally:
            observe_request(
                scope["method"],
                route_template(scope),
                status or CLIENT_CLOSED,
                time.perf_counter() - started,
            )

    return middleware
