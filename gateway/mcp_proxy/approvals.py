"""A tool call the policy wants a person to approve (docs/adr/0057-tool-integrity.md).

The first decision of a call carries no approval; when it answers `approval` (who may
approve, for how long), the gateway looks up the approval bound to exactly this call (user,
server, tool, sha256 of the canonical arguments) and asks again with it. Allowed: the
approval is used (a compare-and-set: one call only) and the call runs. Still waiting: the
client is told the approval id (an MCP error, APPROVAL_REQUIRED) and retries the identical
call once it is allowed. None, used or expired: a new pending approval is recorded. Python
applies the answers; the policy decides each step."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from mcp import MCPError

from gateway.domain.approvals import (
    MAX_TTL_SECONDS,
    MIN_TTL_SECONDS,
    Approval,
    ApprovalRule,
)
from gateway.domain.decisions import Decision
from gateway.domain.ids import new_id
from gateway.domain.servers import AnyServer, EnterpriseMCPServer
from gateway.domain.subjects import Subject
from gateway.mcp_proxy.decisions import APPROVAL_REQUIRED, POLICY_DENIED
from gateway.policy import inputs
from gateway.stores.approvals import ApprovalStore

APPROVAL_PREFIX = "apr_"
_canonical = msgspec.json.Encoder(order="sorted").encode

Redecide = Callable[[inputs.ApprovalFacts], Awaitable[Decision]]


def digest(value: Any) -> str:
    return hashlib.sha256(_canonical(value)).hexdigest()


def binding(user_id: str, server_id: str, tool: str, arguments: dict[str, Any]) -> str:
    """The exact call an approval is bound to."""
    return digest([user_id, server_id, tool, arguments])


def facts(approval: Approval, now: datetime) -> inputs.ApprovalFacts:
    return inputs.ApprovalFacts(
        id=approval.id,
        state=approval.state,
        expired=approval.expired(now),
        decided_by=approval.decided_by,
    )


async def gate(
    store: ApprovalStore,
    subject: Subject,
    server: AnyServer,
    tool: str,
    arguments: dict[str, Any],
    decision: Decision,
    redecide: Redecide,
) -> Decision:
    """The decision to apply to a call whose first decision asked for an approval: allowed
    (its approval used), a denial (applied by the caller), or an MCPError naming the
    approval the call waits for."""
    bound = binding(subject.id, server.id, tool, arguments)
    now = datetime.now(UTC)
    found = await store.for_binding(bound)
    if found is not None:
        decision = await redecide(facts(found, now))
        if decision.allow:
            used = msgspec.structs.replace(
                found, state="used", used_decision_id=decision.decision_id
            )
            if not await store.replace(found, used):
                raise MCPError(
                    code=POLICY_DENIED,
                    message=f"approval {found.id} was used meanwhile: each lets one call through",
                    data={"approval_id": found.id, "decision_id": decision.decision_id},
                )
            return decision
        if decision.approval is None:
            return decision  # refused: a denial
        if found.state == "pending" and not found.expired(now):
            raise waiting(found, decision)
    rule = decision.approval
    assert rule is not None  # gate is only called when the policy asked for an approval
    approval = _new(subject, server, tool, arguments, bound, rule, decision, now)
    await store.create(approval)
    raise waiting(approval, decision)


def _new(
    subject: Subject,
    server: AnyServer,
    tool: str,
    arguments: dict[str, Any],
    bound: str,
    rule: ApprovalRule,
    decision: Decision,
    now: datetime,
) -> Approval:
    ttl = min(max(rule.ttl_seconds, MIN_TTL_SECONDS), MAX_TTL_SECONDS)
    return Approval(
        id=new_id(APPROVAL_PREFIX),
        state="pending",
        user_id=subject.id,
        server_id=server.id,
        server_name=server.name,
        enterprise_id=server.enterprise_id if isinstance(server, EnterpriseMCPServer) else None,
        tool=tool,
        arguments=arguments,
        arguments_sha256=digest(arguments),
        binding=bound,
        approvers=rule.approvers,
        reasons=[r.message for r in decision.reasons],
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
        decision_id=decision.decision_id,
    )


def waiting(approval: Approval, decision: Decision) -> MCPError:
    """What a 2025-era client hears: the call did not run, which approval it waits for,
    and that the identical call passes once an approver allows it."""
    return MCPError(
        code=APPROVAL_REQUIRED,
        message=(
            f"tools/call of {approval.tool!r} waits for approval {approval.id} (until "
            f"{approval.expires_at.isoformat()}): retry the identical call once an approver "
            "allows it (/v1/approvals)"
        ),
        data={
            "approval_id": approval.id,
            "expires_at": approval.expires_at.isoformat(),
            "reasons": [msgspec.structs.asdict(r) for r in decision.reasons],
            "decision_id": decision.decision_id,
        },
    )
