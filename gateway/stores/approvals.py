"""Approvals of tool calls: the `ApprovalStore` port and its in-memory adapter (one process;
`gateway/stores/redis/approvals.py` shares them across replicas). Every change of state is a
compare-and-set on the approval read, so an approval is decided once and used once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from gateway.domain.approvals import Approval

# How long an approval is kept past its expiry: its record stays readable by the approver
# and in the API after it can no longer be used.
KEPT_AFTER_EXPIRY = timedelta(hours=1)
# How many of the newest approvals `GET /v1/approvals` reads.
RECENT = 500


class ApprovalStore(Protocol):
    async def create(self, approval: Approval) -> None:
        """Store it; it becomes the approval of its binding (the call it is bound to)."""
        ...

    async def get(self, approval_id: str) -> Approval | None: ...

    async def for_binding(self, binding: str) -> Approval | None:
        """The newest approval bound to this exact call, if any is still kept."""
        ...

    async def recent(self, limit: int = RECENT) -> list[Approval]:
        """The newest approvals still kept, newest first."""
        ...

    async def replace(self, expected: Approval, new: Approval) -> bool:
        """Store `new` if the approval is still `expected`; False if it moved or is gone."""
        ...


class MemoryApprovalStore:
    def __init__(self) -> None:
        self._approvals: dict[str, Approval] = {}
        self._bindings: dict[str, str] = {}

    def _kept(self, approval: Approval | None) -> Approval | None:
        if approval is None or datetime.now(UTC) >= approval.expires_at + KEPT_AFTER_EXPIRY:
            return None
        return approval

    async def create(self, approval: Approval) -> None:
        for gone in [a for a in self._approvals.values() if not self._kept(a)]:
            del self._approvals[gone.id]
            if self._bindings.get(gone.binding) == gone.id:
                del self._bindings[gone.binding]
        self._approvals[approval.id] = approval
        self._bindings[approval.binding] = approval.id

    async def get(self, approval_id: str) -> Approval | None:
        return self._kept(self._approvals.get(approval_id))

    async def for_binding(self, binding: str) -> Approval | None:
        found = self._bindings.get(binding)
        return self._kept(self._approvals.get(found)) if found else None

    async def recent(self, limit: int = RECENT) -> list[Approval]:
        kept = [a for a in self._approvals.values() if self._kept(a)]
        return sorted(kept, key=lambda a: a.id, reverse=True)[:limit]

    async def replace(self, expected: Approval, new: Approval) -> bool:
        if self._kept(self._approvals.get(expected.id)) != expected:
            return False
        self._approvals[new.id] = new
        return True
