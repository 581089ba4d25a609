"""What the OpenAPI document says beyond the success answer: the error answers each operation
can give (the bodies of gateway/api/errors.py), their headers, and who needs no token.

Each route decorator takes `**answers(...)` with the statuses that apply to it; the ones every
authenticated route can answer are always included. docs/adr/0048-openapi-contract.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Components, OpenAPIHeader, Operation, Schema, SecurityScheme
from litestar.openapi.spec.enums import OpenAPIType

from gateway.api.errors import DenialBody, ErrorBody

BEARER = "bearer"

# Every route behind the bearer token can answer these: a bad parameter, no or a bad token, a
# policy denial (every route asks the policy), the rate limit, a backend down or admission full.
AUTHENTICATED = (400, 401, 403, 429, 503)
_DESCRIPTIONS = {
    400: "Invalid input: `extra` names each field",
    401: "No bearer token, or one that is not valid",
    403: "Denied by the policy: `reasons` and `decision_id` say why",
    404: "Not found, or not visible to the caller (the two look alike on purpose)",
    409: "Conflicts with the stored state",
    412: "If-Match names a version the resource no longer has: nothing was written",
    413: "Request body too large",
    422: (
        "Matches this document but breaks a rule it cannot state (docs/api-contract.md): "
        "a rule against the stored state or the caller, a header or URL rule, a cursor the "
        "gateway did not issue, an Idempotency-Key already used for another request"
    ),
    429: "Rate limited: retry after `Retry-After` seconds",
    503: "A backend is unavailable, or the gateway is at capacity: retry after `Retry-After`",
}
_RETRY_AFTER = OpenAPIHeader(
    description="seconds to wait before retrying",
    schema=Schema(type=OpenAPIType.INTEGER),
    required=True,
)
_HEADERS = {
    "401": {
        "WWW-Authenticate": OpenAPIHeader(
            description="the bearer challenge",
            schema=Schema(type=OpenAPIType.STRING),
            required=True,
        )
    },
    "429": {"Retry-After": _RETRY_AFTER},
    "503": {"Retry-After": _RETRY_AFTER},
}


# A conditional GET's answer when the client's If-None-Match holds the current ETag.
NOT_MODIFIED = ResponseSpec(
    data_container=None,
    description="Not Modified: If-None-Match holds the current ETag; no body",
    generate_examples=False,
)


@dataclass
class _WithErrorHeaders(Operation):
    """ResponseSpec has no headers: they are added to the error answers here."""

    def __post_init__(self) -> None:
        for status, response in (self.responses or {}).items():
            if status in _HEADERS and not isinstance(response, dict):
                response.headers = {**(response.headers or {}), **_HEADERS[status]}  # type: ignore[union-attr]


@dataclass
class _Public(Operation):
    """No token needed. Litestar drops an empty `security`, which would inherit the global one."""

    def __post_init__(self) -> None:
        self.security = []


def answers(*statuses: int, success: dict[int, ResponseSpec] | None = None) -> dict[str, Any]:
    """Route decorator arguments: every status in AUTHENTICATED and in `statuses`, each with
    its body (ErrorBody, DenialBody for 403); `success` adds the other 2xx answers."""
    responses: dict[int, ResponseSpec] = {
        status: ResponseSpec(
            data_container=DenialBody if status == 403 else ErrorBody,
            description=_DESCRIPTIONS[status],
            generate_examples=False,  # random ones: the document would change each start
        )
        for status in sorted({*AUTHENTICATED, *statuses})
    }
    responses.update(success or {})
    return {"responses": responses, "operation_class": _WithErrorHeaders}


def public(responses: dict[int, ResponseSpec] | None = None) -> dict[str, Any]:
    """Route decorator arguments for a route that needs no token (probes, tooling)."""
    return {
        "responses": responses,
        "operation_class": _Public,
        "security": [],
    }


@dataclass
class _TokenOptional(_WithErrorHeaders):
    """Anonymous or with a bearer token (the MCP registry, `/v0.1`): `{}` is "no token"."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.security = [{}, {BEARER: []}]


# What a route open to anonymous callers can answer besides its own: a bad parameter, a bad
# token (when one is sent), the rate limit, a backend down or admission full.
TOKEN_OPTIONAL = (400, 401, 429, 503)


def token_optional(*statuses: int) -> dict[str, Any]:
    """Route decorator arguments for a route anonymous callers may use too."""
    responses = {
        status: ResponseSpec(
            data_container=ErrorBody, description=_DESCRIPTIONS[status], generate_examples=False
        )
        for status in sorted({*TOKEN_OPTIONAL, *statuses})
    }
    return {"responses": responses, "operation_class": _TokenOptional}


def components() -> Components:
    return Components(
        security_schemes={
            BEARER: SecurityScheme(
                type="http",
                scheme="bearer",
                bearer_format="JWT",
                description="an OIDC/JWT access token; its `sub` is the caller",
            )
        }
    )


SECURITY: list[dict[str, list[str]]] = [{BEARER: []}]
