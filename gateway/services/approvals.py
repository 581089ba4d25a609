"""Approvals of tool calls through `/v1/approvals` (docs/adr/0057-tool-integrity.md): who may
read one (`approval.read`: who asked, its approvers) and decide it (`approval.decide`: its
approvers, never who asked) is the policy's answer. A decision is a compare-and-set on the
approval read: decided once, and only while pending and unexpired."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Literal

import msgspec

from gateway.domain.approvals import Approval
from gateway.domain.subjects import Subject
from gateway.errors import Conflict
from gateway.policy import inputs
from gateway.policy.decider import Authorizer
from gateway.stores.approvals import ApprovalStore

APPROVAL_READ = "approval.read"
APPROVAL_DECIDE = "approval.decide"


def resource(approval: Approval, now: datetime) -> inputs.ApprovalResource:
    return inputs.ApprovalResource(
        id=approval.id,
        state=approval.state,
        expired=approval.expired(now),
        user_id=approval.user_id,
        server_id=approval.server_id,
        enterprise_id=approval.enterprise_id,
        tool=approval.tool,
        arguments_sha256=approval.arguments_sha256,
        approver_ids=list(approval.approvers.user_ids),
        approver_roles=list(approval.approvers.roles),
        expires_at=approval.expires_at,
    )


class ApprovalService:
    def __init__(self, authorizer: Authorizer, store: ApprovalStore) -> None:
        self._authorizer = authorizer
        self._store = store

    async def list(self, subject: Subject) -> list[Approval]:
        """The newest approvals the caller may read (who asked, or may approve), by id."""
        found = await self._store.recent()
        now = datetime.now(UTC)
        decisions = await asyncio.gather(
            *(
                self._authorizer.decide(APPROVAL_READ, subject, resource(a, now), purpose="list")
                for a in found
            )
        )
        kept = [a for a, d in zip(found, decisions, strict=True) if d.visible and d.allow]
        return sorted(kept, key=lambda a: a.id)

    async def _load(self, subject: Subject, approval_id: str, action: str) -> Approval:
        approval = await self._store.get(approval_id)
        if approval is None:
            await self._authorizer.missing(
                action,
                subject,
                inputs.ApprovalResource(id=approval_id, exists=False),
                what=f"approval {approval_id}",
            )
        return approval

    async def get(self, subject: Subject, approval_id: str) -> Approval:
        approval = await self._load(subject, approval_id, APPROVAL_READ)
        await self._authorizer.require(
            APPROVAL_READ,
            subject,
            resource(approval, datetime.now(UTC)),
            what=f"approval {approval_id}",
        )
        return approval

    async def decide(
        self, subject: Subject, approval_id: str, verdict: Literal["allowed", "refused"]
    ) -> Approval:
        approval = await self._load(subject, approval_id, APPROVAL_DECIDE)
        now = datetime.now(UTC)
        decision = await self._authorizer.require(
            APPROVAL_DECIDE, subject, resource(approval, now), what=f"approval {approval_id}"
        )
        if approval.state != "pending":
            raise Conflict(
                f"approval {approval_id} is {approval.state}: only a pending one is decided"
            )
        if approval.expired(now):
            raise Conflict(
                f"approval {approval_id} expired at {approval.expires_at.isoformat()}: "
                "the call must be asked for again"
            )
        decided = msgspec.structs.replace(
            approval,
            state=verdict,
            decided_by=subject.id,
            decided_at=now,
            decided_decision_id=decision.decision_id,
        )
        if not await self._store.replace(approval, decided):
            raise Conflict(f"approval {approval_id} changed meanwhile; read it again")
        return decided
