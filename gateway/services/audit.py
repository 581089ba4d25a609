"""The decision log for auditors: query, read one record, export. Who may read what is the
policy's (`audit.read` on an `audit_log` resource naming the enterprise asked about): the
platform role `auditor` reads everything, an enterprise's owners and admins their
enterprise's records. Every read is itself a logged decision."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

from gateway.audit.chain import ChainReport
from gateway.audit.log import AuditFilter, DecisionLog, QueryPage
from gateway.audit.records import DecisionRecord
from gateway.audit.summary import AuditSummary, summarize
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
        page = await self._log.query(where, before=before, limit=limit)
        if where.enterprise_id is None:
            return page
        shown = [about_enterprise(r, where.enterprise_id) for r in page.records]
        return msgspec.structs.replace(page, records=shown)

    async def export(self, subject: Subject, where: AuditFilter) -> AsyncIterator[bytes]:
        """Decided before the first byte: a refusal is a 403, not a broken stream."""
        await self._may_read(subject, where)
        lines = self._log.export(where)
        if where.enterprise_id is None:
            return lines
        return _exported_about(lines, where.enterprise_id)

    async def verify(self, subject: Subject) -> ChainReport:
        """The whole chain: read as the whole log is (the policy grants it to auditors)."""
        await self._may_read(subject, AuditFilter())
        return await self._log.verify()

    async def summary(self, subject: Subject, where: AuditFilter, *, top: int) -> AuditSummary:
        """Counts over the matching records, read as a query is (the same decision)."""
        await self._may_read(subject, where)
        return await summarize(self._log.export(where), top=top)

    async def get(
        self, subject: Subject, decision_id: str, enterprise_id: str | None = None
    ) -> DecisionRecord:
        """One record, read as the whole log's (what the policy grants auditors) or, with
        `enterprise_id`, as that enterprise's (its owners' and admins'): then a record of
        another enterprise is not found, and what it says of other enterprises is left out."""
        await self._writer.flush()
        record = await self._log.get(decision_id)
        if record is None or (enterprise_id and record.enterprise_id != enterprise_id):
            await self._authorizer.missing(
                "audit.read",
                subject,
                AuditLogResource(id=decision_id, enterprise_id=enterprise_id, exists=False),
                what="decision",
            )
        await self._authorizer.require(
            "audit.read",
            subject,
            AuditLogResource(id=decision_id, enterprise_id=enterprise_id),
            what="decision",
            enterprise_id=enterprise_id,
        )
        return about_enterprise(record, enterprise_id) if enterprise_id else record


def about_enterprise(record: DecisionRecord, enterprise_id: str) -> DecisionRecord:
    """The record as a reader of one enterprise's part of the log sees it: the subject's
    memberships of other enterprises (their ids, the subject's roles, their settings) are
    left out, and `redacted` says the memberships are not all there."""
    doc: Any = record.input
    subject: Any = doc.get("subject") if isinstance(doc, dict) else None
    memberships = subject.get("memberships") if isinstance(subject, dict) else None
    if not isinstance(memberships, dict) or set(memberships) <= {enterprise_id}:
        return record
    kept = {k: v for k, v in memberships.items() if k == enterprise_id}
    shown = {**doc, "subject": {**subject, "memberships": kept}}
    # The container, not the entries: their pointers would name the other enterprises.
    return msgspec.structs.replace(record, input=shown, redacted=["/input/subject/memberships"])


_encode = msgspec.json.Encoder().encode


async def _exported_about(lines: AsyncIterator[bytes], enterprise_id: str) -> AsyncIterator[bytes]:
    async for raw in lines:
        record = msgspec.json.decode(raw, type=DecisionRecord)
        shown = about_enterprise(record, enterprise_id)
        yield raw if shown is record else _encode(shown)
