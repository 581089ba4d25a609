"""What the edge (gateway/api/edge/layer.py) counts for every request by its route template
and status (`GET /metrics` serves the counts: gateway/api/controllers/metrics.py)."""

from __future__ import annotations

import asyncio

from litestar.exceptions import HTTPException

from gateway.api.errors import status_of
from gateway.errors import GatewayError

CLIENT_CLOSED = 499  # the client went away before an answer (nginx's convention)


def status_of_exception(exc: BaseException) -> int:
    """The status for an exception that left the app without an answer started."""
    if isinstance(exc, HTTPException):
        return exc.status_code
    if isinstance(exc, GatewayError):
        return status_of(exc)
    if isinstance(exc, asyncio.CancelledError):
        return CLIENT_CLOSED
    return 500
