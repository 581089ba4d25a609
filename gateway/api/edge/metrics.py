"""`GET /metrics` (Prometheus text format) and the middleware that counts every request by
its route template.

Who may read it: the metrics name no tenant, user or object (routes are templates,
decisions are labelled by entrypoint), but they do show how much traffic there is and how
often it is denied. So, without GATEWAY_METRICS_TOKEN only loopback clients may (a
Prometheus or agent beside the gateway); with it, anyone presenting it as a bearer token.
This is an operator's credential checked at the edge like the bearer token of a user, not
an authorization decision about a subject: there is no subject, and the policy never sees
it (docs/adr/0043-operability.md)."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import time

from litestar import Request, Response, get
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.handlers import HTTPRouteHandler
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.errors import WWW_AUTHENTICATE, status_of
from gateway.api.openapi.answers import public
from gateway.errors import GatewayError
from gateway.observability.metrics import exposition, observe_request

CLIENT_CLOSED = 499  # the client went away before an answer (nginx's convention)


def metrics_route(token: str | None) -> HTTPRouteHandler:
    expected = token.encode() if token else None

    @get(
        "/metrics",
        exclude_from_auth=True,  # no user token: its own rule, above
        include_in_schema=False,
        **public(),
    )
    async def metrics(request: Request) -> Response[bytes]:  # type: ignore[type-arg]
        if expected is None:
            if not _loopback(request.client.host if request.client else None):
                raise PermissionDeniedException(
                    "/metrics is served to loopback clients only; set GATEWAY_METRICS_TOKEN "
                    "to scrape it from elsewhere"
                )
        else:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected):
                raise NotAuthorizedException(
                    "/metrics needs the GATEWAY_METRICS_TOKEN as a bearer token",
                    headers={"WWW-Authenticate": WWW_AUTHENTICATE},
                )
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    return metrics


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
                scope.get("path_template", ""),
                status or CLIENT_CLOSED,
                time.perf_counter() - started,
            )

    return middleware
