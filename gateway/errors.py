"""The gateway's exceptions, mapped to HTTP in one handler (gateway/api/errors.py)."""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    status_code = 500

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}


class InvalidInput(GatewayError):
    status_code = 400


class Unauthenticated(GatewayError):
    status_code = 401


class Denied(GatewayError):
    """Visible but not allowed: the policy's reasons go back to the caller."""

    status_code = 403

    def __init__(
        self, detail: str, *, reasons: list[dict[str, str]], decision_id: str | None
    ) -> None:
        super().__init__(detail, extra={"reasons": reasons, "decision_id": decision_id})
        self.reasons = reasons
        self.decision_id = decision_id


class NotFound(GatewayError):
    status_code = 404


class Conflict(GatewayError):
    status_code = 409


class BackendUnavailable(GatewayError):
    """A backend (policy engine, Redis, Vault) failed: answer 503, never guess."""

    status_code = 503
