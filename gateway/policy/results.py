"""The shape of each entrypoint's answer, shared by the Authorizer (which parses every
answer) and the engines (which refuse to load a policy whose entrypoints do not answer in
that shape for a probe input)."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.domain.approvals import ApprovalRule
from gateway.domain.decisions import Reason
from gateway.domain.requests import RequestInfo
from gateway.domain.subjects import LOCAL_DEV_SUBJECT, Subject
from gateway.policy.engine import (
    ACCOUNTS_PROVISION,
    AUTHZ_DECISION,
    MARKETPLACE_LISTINGS,
    SCOPE_VIEW,
)
from gateway.policy.inputs import (
    DecisionContext,
    ListingsInput,
    MCPServerResource,
    PolicyInput,
    SubjectInput,
)


class AuthzResult(msgspec.Struct, kw_only=True, frozen=True):
    allow: bool
    visible: bool
    reasons: tuple[Reason, ...]
    approval: ApprovalRule | None = None  # the call waits for a person's approval


class ScopeResult(msgspec.Struct, kw_only=True, frozen=True):
    unscoped: bool
    user_ids: tuple[str, ...]
    enterprise_ids: tuple[str, ...]
    auto_enabled_only: bool = True


class ListingsResult(msgspec.Struct, kw_only=True, frozen=True):
    decisions: dict[str, AuthzResult]


class ProvisionResult(msgspec.Struct, kw_only=True, frozen=True):
    personal_enterprise: bool


RESULT_TYPES: dict[str, type[msgspec.Struct]] = {
    AUTHZ_DECISION: AuthzResult,
    SCOPE_VIEW: ScopeResult,
    ACCOUNTS_PROVISION: ProvisionResult,
    MARKETPLACE_LISTINGS: ListingsResult,
}

_PROBE_SUBJECT = Subject(id="probe", email="probe@example.invalid", memberships={})
_REQUEST = RequestInfo(method="GET", path="/readyz", req_id="policy-probe")


def probe_inputs() -> dict[str, bytes]:
    """One input per entrypoint, for which a loadable policy must answer in shape: a
    policy that lacks an entrypoint, or answers it wrongly, is refused before it serves."""
    docs: dict[str, Any] = {
        AUTHZ_DECISION: PolicyInput(
            action="mcp_server.read",
            subject=LOCAL_DEV_SUBJECT,
            resource=MCPServerResource(id="mcp_probe", exists=False),
            request=_REQUEST,
            context=DecisionContext(),
        ),
        SCOPE_VIEW: SubjectInput(subject=_PROBE_SUBJECT, request=_REQUEST),
        ACCOUNTS_PROVISION: SubjectInput(subject=_PROBE_SUBJECT, request=_REQUEST),
        MARKETPLACE_LISTINGS: ListingsInput(subject=_PROBE_SUBJECT, request=_REQUEST, listings=[]),
    }
    return {entrypoint: msgspec.json.encode(doc) for entrypoint, doc in docs.items()}


def check_answer(entrypoint: str, result: Any) -> str | None:
    """Why `result` is not a well-formed answer of `entrypoint` (None when it is)."""
    try:
        msgspec.convert(result, RESULT_TYPES[entrypoint])
    except (msgspec.ValidationError, TypeError) as exc:
        return f"data.{entrypoint.replace('/', '.')} answered {_short(result)}: {exc}"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
