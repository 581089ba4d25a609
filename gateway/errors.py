"""The gateway's exceptions: what went wrong, in the domain's terms. They carry no HTTP
status: gateway/api/errors.py maps them to HTTP, and the MCP proxy to JSON-RPC errors."""

from __future__ import annotations

from collections.abc import Mapping


class GatewayError(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(GatewayError):
    """The caller sent something the gateway refuses; `fields` names each field and why."""

    def __init__(self, detail: str, *, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.fields = dict(fields or {})

    @classmethod
    def field(cls, name: str, message: str) -> InvalidInput:
        return cls(f"invalid {name}: {message}", fields={name: message})


class UnprocessableInput(InvalidInput):
    """Well-formed input (it matches the OpenAPI document) that the gateway still refuses: a
    rule between fields, against what is stored, or a value only the gateway issues (a cursor).
    The document states the form; these rules are listed in docs/api-contract.md."""


class Unauthenticated(GatewayError):
    """No valid bearer token; the reason is safe to tell the caller. `token_sent`: a token
    was presented and refused (RFC 6750's `invalid_token`), not merely missing."""

    def __init__(self, detail: str, *, token_sent: bool = True) -> None:
        super().__init__(detail)
        self.token_sent = token_sent


class InsufficientScope(GatewayError):
    """A valid token without the scopes the resource needs (RFC 6750: a 403 naming them)."""

    def __init__(self, detail: str, *, scopes: tuple[str, ...]) -> None:
        super().__init__(detail)
        self.scopes = scopes


class Denied(GatewayError):
    """Visible but not allowed: the policy's reasons go back to the caller."""

    def __init__(
        self, detail: str, *, reasons: list[dict[str, str]], decision_id: str | None
    ) -> None:
        super().__init__(detail)
        self.reasons = reasons
        self.decision_id = decision_id


class NotFound(GatewayError):
    """Missing, or not visible to the caller (the two look alike on purpose)."""


class Conflict(GatewayError):
    """The request collides with the stored state (a stale write, a duplicate)."""


class PreconditionFailed(GatewayError):
    """An If-Match names a version the resource no longer has (412): nothing was written."""


class IdempotencyKeyReused(GatewayError):
    """An Idempotency-Key already used for a different request (422, as the IETF draft says)."""


class RateLimited(GatewayError):
    """Too many requests from one subject (429); `retry_after` seconds until the window ends."""

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class BackendUnavailable(GatewayError):
    """A backend (policy engine, Redis, Vault) failed: answer 503, never guess. `backend`
    names it for people; never its address."""
