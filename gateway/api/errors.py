"""The one place domain exceptions become HTTP answers (the MCP proxy maps them to JSON-RPC)."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from gateway.errors import (
    BackendUnavailable,
    Conflict,
    Denied,
    GatewayError,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    RateLimited,
    Unauthenticated,
    UnprocessableInput,
)

log = logging.getLogger(__name__)

# Most specific first: the first kind an exception is an instance of gives its status.
STATUS: dict[type[GatewayError], int] = {
    UnprocessableInput: 422,
    InvalidInput: 400,
    Unauthenticated: 401,
    Denied: 403,
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    IdempotencyKeyReused: 422,
    RateLimited: 429,
    BackendUnavailable: 503,
}
WWW_AUTHENTICATE = 'Bearer realm="mcp-gateway"'


def status_of(exc: GatewayError) -> int:
    return next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)


def gateway_error_handler(request: Request[Any, Any, Any], exc: GatewayError) -> Response[Any]:
    status = status_of(exc)
    body: dict[str, Any] = {"status_code": status, "detail": exc.detail}
    headers: dict[str, str] = {}
    if isinstance(exc, InvalidInput):
        # One shape for every 400 and 422: Litestar's list of {"key", "message"}.
        body["extra"] = [{"key": k, "message": v} for k, v in exc.fields.items()]
    elif isinstance(exc, Denied):
        # The contract: a policy denial adds the policy's reasons and the decision id.
        body["reasons"] = exc.reasons
        body["decision_id"] = exc.decision_id
    elif isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    elif isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, BackendUnavailable):
        # The body names the backend; the log also keeps its own words (host, port, errno).
        log.error(
            "backend unavailable on %s %s: %s%s",
            request.method,
            request.url.path,
            exc.detail,
            _cause(exc),
        )
        headers["Retry-After"] = "1"
    elif status == 500:
        log.error("%s on %s %s: %s", type(exc).__name__, request.method, request.url.path, exc)
    return Response(body, status_code=status, headers=headers)


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__
    return f" ({type(cause).__name__}: {cause})" if cause is not None else ""


def validation_error_handler(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[Any]:
    """Path and query parameters Litestar refused (bodies are ours: gateway/api/requests.py)."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    fields = ", ".join(str(e["key"]) for e in extra if isinstance(e, dict) and e.get("key"))
    messages = "; ".join(str(e.get("message")) for e in extra if isinstance(e, dict))
    detail = f"invalid {fields}: {messages}" if fields else exc.detail
    return Response({"status_code": 400, "detail": detail, "extra": extra}, status_code=400)


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    if exc.extra:
        body["extra"] = exc.extra
    return Response(body, status_code=exc.status_code, headers=exc.headers)


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A bug, not a decision: log it with its traceback, answer 500 without internals."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response({"status_code": 500, "detail": "internal server error"}, status_code=500)
