"""The decision log for auditors: query, read one record, export. Who may read what is the
policy's (`audit.read` on an `audit_log` resource naming the enterprise asked about): the
platform role `auditor` reads everything, an enterprise's owners and admins their
enterprise's records. Every read is itself a logged decision."""

from __future__ import annotations

from collections.abc import AsyncIterator

from gateway.audit.log import AuditFilter, DecisionLog, QueryPage
from gateway.audit.records import DecisionRecord
from gateway.audit.writer import AuditWriter
from gateway.domain.subjects import Subject
from gateway.policy.decider import Authorizer
from gateway.policy.inputs import AuditLogResource

_WHAT = "decision log"


class AuditService:
    def __init__(self, authorizer: Authorizer, log: DecisionLog, writer: AuditWriter) -> None:
        self._authorizer = authorizer
        self._log = log
        self._writer = writer

    async def _may_read(self, subject: Subject, where: AuditFilter) -> None:
        await self._authorizer.require(
            "audit.read",
            subject,
            AuditLogResource(enterprise_id=where.enterprise_id),
            what=_WHAT,
            enterprise_id=where.enterprise_id,
        )
        # What this replica decided a moment ago is in the answer.
        await self._writer.flush()

    async def query(
        self, subject: Subject, where: AuditFilter, *, before: int | None, limit: int
    ) -> QueryPage:
        await self._may_read(subject, where)
        return await self._log.query(where, before=before, limit=limit)

    async def export(self, subject: Subject, where: AuditFilter) -> AsyncIterator[bytes]:
        """Decided before the first byte: a refusal is a 403, not a broken stream."""
        await self._may_read(subject, where)
        return self._log.export(where)

    async def get(self, subject: Subject, decision_id: str) -> DecisionRecord:
        await self._writer.flush()
        record = await self._log.get(decision_id)
        if record is None:
            await self._authorizer.missing(
                "audit.read",
                subject,
                AuditLogResource(id=decision_id, exists=False),
                what="decision",
            )
        await self._authorizer.require(
            "audit.read",
            subject,
            AuditLogResource(id=decision_id, enterprise_id=record.enterprise_id),
            what="decision",
            enterprise_id=record.enterprise_id,
        )
        return record
