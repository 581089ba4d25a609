"""What the policy engine answers (the Rego output contract)."""

from __future__ import annotations

import msgspec

from gateway.domain.approvals import ApprovalRule


class Reason(msgspec.Struct, kw_only=True, frozen=True):
    code: str
    message: str


class Decision(msgspec.Struct, kw_only=True, frozen=True):
    """`data.gateway.authz.decision`; a missing or malformed part is a deny."""

    allow: bool = False
    visible: bool = False
    reasons: tuple[Reason, ...] = ()
    decision_id: str = ""
    # Set when the call needs a person's approval first (not allowed until then).
    approval: ApprovalRule | None = None


class ViewScope(msgspec.Struct, kw_only=True, frozen=True):
    """`data.gateway.scope.view`: which stores feed a subject's merged view."""

    unscoped: bool = False
    user_ids: tuple[str, ...] = ()
    enterprise_ids: tuple[str, ...] = ()
    # Only the enterprises' auto-enabled servers feed the view (ADR-0008), unless the policy
    # says otherwise.
    auto_enabled_only: bool = True
    decision_id: str = ""
