"""One decision-log record: OPA's decision-log fields plus indexed fields for queries."""

from __future__ import annotations

from typing import Any

import msgspec


class DecisionRecord(msgspec.Struct, kw_only=True, frozen=True):
    decision_id: str
    path: str
    input: dict[str, Any]
    result: Any
    timestamp: str  # RFC 3339, UTC
    revision: str
    engine: str
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    metrics: dict[str, int] = msgspec.field(default_factory=dict)
    req_id: str | None = None
    # Indexed for /v1/audit/decisions queries.
    subject_id: str | None = None
    enterprise_id: str | None = None
    action: str | None = None
    resource_id: str | None = None
    allowed: bool | None = None
    # Fields erased by masking (OPA's `erased`), as JSON pointers.
    erased: list[str] = msgspec.field(default_factory=list)
