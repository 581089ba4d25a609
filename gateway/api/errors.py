"""The one place domain exceptions become HTTP answers (the MCP proxy maps them to JSON-RPC),
and the one home of the error body: every error answer the gateway gives, from a handler
below, the admission 503 or the header deadline's 408 written straight to the socket, is an
`ErrorBody` encoded by `encode_error` (tests/unit/api/test_error_bodies.py keeps it so), and
the OpenAPI document describes the same Structs (docs/adr/0018-error-bodies.md)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.enums import MediaType
from litestar.exceptions import HTTPException, ValidationException

from gateway.auth.resource_metadata import challenge
from gateway.config import Settings
from gateway.domain.decisions import Reason
from gateway.errors import (
    BackendUnavailable,
    Conflict,
    Denied,
    GatewayError,
    IdempotencyKeyReused,
    InsufficientScope,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    RateLimited,
    Unauthenticated,
    UnprocessableInput,
)

log = logging.getLogger(__name__)


class FieldError(msgspec.Struct, kw_only=True):
    key: str
    message: str


class ErrorBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Every error answer: its status again, what went wrong, and for a 400 the fields."""

    status_code: int
    detail: str
    extra: list[FieldError] | None = None  # left out of the body when there is none


class DenialBody(ErrorBody, kw_only=True):
    """A 403: the policy's reasons, and the decision to look up in /v1/audit/decisions."""

    reasons: list[Reason]
    decision_id: str | None


_ENCODER = msgspec.json.Encoder()


def encode_error(body: ErrorBody) -> bytes:
    return _ENCODER.encode(body)


def error_answer(body: ErrorBody, headers: Mapping[str, str] | None = None) -> Response[bytes]:
    return Response(
        encode_error(body),
        status_code=body.status_code,
        media_type=MediaType.JSON,
        headers=headers,
    )


def field_errors(extra: object) -> list[FieldError] | None:
    """Litestar's `extra` (a list of {"key", "message", "source"}) as the body's fields; a
    message it gives without a key names no field."""
    if not isinstance(extra, list):
        return None
    return [
        FieldError(key=str(e.get("key", "")), message=str(e.get("message", "")))
        for e in extra
        if isinstance(e, dict)
    ] or None


# Most specific first: the first kind an exception is an instance of gives its status.
STATUS: dict[type[GatewayError], int] = {
    UnprocessableInput: 422,
    InvalidInput: 400,
    Unauthenticated: 401,
    InsufficientScope: 403,
    Denied: 403,
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    IdempotencyKeyReused: 422,
    RateLimited: 429,
    BackendUnavailable: 503,
}


def _settings(request: Request[Any, Any, Any]) -> Settings | None:
    """The running gateway's settings (the challenge names its metadata URL), if open."""
    runtime = request.app.state.get("runtime")
    settings = getattr(runtime, "settings", None)
    return settings if isinstance(settings, Settings) else None


def status_of(exc: GatewayError) -> int:
    return next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)


def gateway_error_handler(request: Request[Any, Any, Any], exc: GatewayError) -> Response[bytes]:
    status = status_of(exc)
    body = ErrorBody(status_code=status, detail=exc.detail)
    headers: dict[str, str] = {}
    if isinstance(exc, InvalidInput):
        # One shape for every 400 and 422: Litestar's list of {"key", "message"}.
        body.extra = [FieldError(key=k, message=v) for k, v in exc.fields.items()]
    elif isinstance(exc, Denied):
        # The contract: a policy denial adds the policy's reasons and the decision id.
        body = DenialBody(
            status_code=status,
            detail=exc.detail,
            reasons=[Reason(code=r["code"], message=r["message"]) for r in exc.reasons],
            decision_id=exc.decision_id,
        )
    elif isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = challenge(
            _settings(request),
            error="invalid_token" if exc.token_sent else None,
            description=exc.detail if exc.token_sent else None,
        )
    elif isinstance(exc, InsufficientScope):
        headers["WWW-Authenticate"] = challenge(
            _settings(request), error="insufficient_scope", scopes=exc.scopes
        )
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
    return error_answer(body, headers)


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__
    return f" ({type(cause).__name__}: {cause})" if cause is not None else ""


def validation_error_handler(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[bytes]:
    """Path and query parameters Litestar refused (bodies are ours: gateway/api/requests.py)."""
    extra = field_errors(exc.extra) or []
    fields = ", ".join(e.key for e in extra if e.key)
    messages = "; ".join(e.message for e in extra)
    detail = f"invalid {fields}: {messages}" if fields else exc.detail
    return error_answer(ErrorBody(status_code=400, detail=detail, extra=extra))


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    body = ErrorBody(status_code=exc.status_code, detail=exc.detail, extra=field_errors(exc.extra))
    return error_answer(body, exc.headers)


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """A bug, not a decision: log it with its traceback, answer 500 without internals."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_answer(ErrorBody(status_code=500, detail="internal server error"))
