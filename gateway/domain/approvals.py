"""Approvals of single tool calls (docs/adr/0057-tool-integrity.md): the policy answers that
a call needs a person's approval (`approval` in `data.gateway.authz.decision`), the gateway
records a pending approval bound to the exact call, and an approver allows or refuses it
through `/v1/approvals`. An allowed approval lets exactly that call through once, until it
expires."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from gateway.domain.ids import whole

APPROVAL_ID = whole(r"apr_[0-9a-f]{1,60}")
ApprovalState = Literal["pending", "allowed", "refused", "used"]
# Bounds on the policy's `ttl_seconds`: a safe default, not a decision.
MIN_TTL_SECONDS = 1
MAX_TTL_SECONDS = 86_400


class Approvers(msgspec.Struct, kw_only=True, frozen=True):
    """Who may approve: these users, and members of the server's enterprise with these roles."""

    user_ids: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()


class ApprovalRule(msgspec.Struct, kw_only=True, frozen=True):
    """The policy's `approval` answer: who may approve, and for how long an approval lives."""

    approvers: Approvers = msgspec.field(default_factory=Approvers)
    ttl_seconds: int = 900


class Approval(msgspec.Struct, kw_only=True, frozen=True):
    """One call waiting for (or holding) a person's approval. `binding` is the sha256 of the
    call it is bound to (user, server, tool, arguments); `decision_id` the decision that asked
    for it, `decided_decision_id` the approver's, `used_decision_id` the call's that used it."""

    id: str
    state: ApprovalState
    user_id: str
    server_id: str
    server_name: str
    enterprise_id: str | None
    tool: str
    arguments: dict[str, Any]
    arguments_sha256: str
    binding: str
    approvers: Approvers
    reasons: list[str]
    created_at: datetime
    expires_at: datetime
    decision_id: str
    decided_by: str | None = None
    decided_at: datetime | None = None
    decided_decision_id: str | None = None
    used_decision_id: str | None = None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at
