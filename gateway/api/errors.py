"""Maps the gateway's exceptions to Litestar's error body in one place."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from gateway.api.bodies import body_errors
from gateway.errors import (
    BackendUnavailable,
    Denied,
    GatewayError,
    InvalidInput,
    Unauthenticated,
)

log = logging.getLogger(__name__)


def gateway_error_handler(request: Request[Any, Any, Any], exc: GatewayError) -> Response[Any]:
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    if isinstance(exc, InvalidInput):
        # One shape for every 400: Litestar's list of {"key", "message"}.
        body["extra"] = [{"key": k, "message": str(v)} for k, v in exc.extra.items()]
    elif isinstance(exc, Denied):
        # The contract: a policy denial adds the policy's reasons and the decision id.
        body["reasons"] = exc.reasons
        body["decision_id"] = exc.decision_id
    elif exc.extra:
        body["extra"] = exc.extra
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="mcp-gateway"'
    if isinstance(exc, BackendUnavailable):
        log.error("backend unavailable on %s %s: %s", request.method, request.url.path, exc.detail)
        headers["Retry-After"] = "1"
    return Response(body, status_code=exc.status_code, headers=headers)


def validation_error_handler(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[Any]:
    extra = body_errors(request, exc.extra)
    fields = ", ".join(str(e["key"]) for e in extra if e.get("key"))
    detail = (
        f"invalid {fields}: " + "; ".join(e["message"] for e in extra) if fields else exc.detail
    )
    return Response({"status_code": 400, "detail": detail, "extra": extra}, status_code=400)


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    if isinstance(exc, InvalidInput):
        # One shape for every 400: Litestar's list of {"key", "message"}.
        body["extra"] = [{"key": k, "message": str(v)} for k, v in exc.extra.items()]
    elif exc.extra:
        body["extra"] = exc.extra
    return Response(body, status_code=exc.status_code, headers=exc.headers)


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A bug, not a decision: log it with its traceback, answer 500 without internals."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response({"status_code": 500, "detail": "internal server error"}, status_code=500)
