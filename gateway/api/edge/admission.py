"""Admission control: at most `limit` requests in flight per process; beyond it a prompt
503 with `Retry-After`, before any work is done for the request (no token check, no Redis,
no decision), so a burst cannot queue without bound on one event loop and time out
everyone. The health endpoints and /metrics are exempt: a load balancer must see a busy
replica as alive and ready (it is), not as failing, and a busy replica is when its metrics
matter most. The edge layer (gateway/api/edge/layer.py) counts and refuses."""

from __future__ import annotations

import msgspec
from litestar.types import HTTPResponseStartEvent, Send

from gateway.api.errors import ErrorBody, encode_error

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
RETRY_AFTER_SECONDS = 1


class AdmissionStats(msgspec.Struct, kw_only=True):
    limit: int
    in_flight: int = 0
    refused: int = 0


def _refusal(limit: int) -> tuple[bytes, tuple[tuple[bytes, bytes], ...]]:
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
    return body, headers


async def refuse(send: Send, limit: int) -> None:
    body, headers = _refusal(limit)
    # A fresh header list for every refusal: the edge's send adds its headers to it.
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 503,
        "headers": list(headers),
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})
