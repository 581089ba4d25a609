"""Admission control: at most `limit` requests in flight per process; beyond it a prompt
503 with `Retry-After`, before any work is done for the request (no token check, no Redis,
no decision), so a burst cannot queue without bound on one event loop and time out
everyone. The health endpoints and /metrics are exempt: a load balancer must see a busy
replica as alive and ready (it is), not as failing, and a busy replica is when its metrics
matter most."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Receive, Scope, Send

from gateway.api.edge.paths import request_path
from gateway.api.errors import ErrorBody, encode_error
from gateway.observability.metrics import ADMISSION_REJECTED, IN_FLIGHT

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
RETRY_AFTER_SECONDS = 1


class AdmissionStats(msgspec.Struct, kw_only=True):
    limit: int
    in_flight: int = 0
    refused: int = 0


def admission_middleware(limit: int) -> tuple[Callable[[ASGIApp], ASGIApp], AdmissionStats]:
    stats = AdmissionStats(limit=limit)
    body = encode_error(
        ErrorBody(
            status_code=503,
            detail=f"the gateway is at its limit of {limit} requests in flight; retry",
        )
    )
    headers = (
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
    )

    async def refuse(send: Send) -> None:
        # Fresh messages for every refusal: `before_send` hooks (the security headers) put a
        # longer header list into the start message itself, so a shared one grew ~200 bytes
        # on every refusal.
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": 503,
            "headers": list(headers),
        }
        await send(start)
        await send({"type": "http.response.body", "body": body, "more_body": False})

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP or request_path(scope) in EXEMPT_PATHS:
                await app(scope, receive, send)
                return
            if stats.in_flight >= stats.limit:
                stats.refused += 1
                ADMISSION_REJECTED.inc()
                await refuse(send)
                return
            stats.in_flight += 1
            IN_FLIGHT.inc()
            try:
                await app(scope, receive, send)
            finally:
                stats.in_flight -= 1
                IN_FLIGHT.dec()

        return middleware

    return wrap, stats
