"""The decision log's port: where sealed records are kept, found and walked. Two adapters:
the memory log (gateway/audit/memory_log.py, one process, bounded by bytes) and the Redis
Stream every replica shares (gateway/audit/redis_log.py)."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Protocol

import msgspec

from gateway.audit.chain import ChainReport
from gateway.audit.records import DecisionRecord

# Records are appended in chain order, not timestamp order: a replica's batch may carry
# decisions taken up to this long before ones already in the log. Time-bounded scans look
# this much further so that no record near a bound is missed (the exact filter follows).
CLOCK_SLACK_MS = 60_000


def format_timestamp(at: datetime) -> str:
    """RFC 3339 in UTC with microseconds and `Z`: fixed width, so it sorts as text. The year
    is padded by hand: strftime's `%Y` writes year 685 as `685`, which neither sorts nor
    parses back."""
    at = at.astimezone(UTC)
    # Fields, not strftime: a record is stamped with every decision (a third of the cost).
    return (
        f"{at.year:04d}-{at.month:02d}-{at.day:02d}T{at.hour:02d}:{at.minute:02d}:"
        f"{at.second:02d}.{at.microsecond:06d}Z"
    )


def timestamp_now() -> str:
    """`format_timestamp` of now: the text up to the second is made once a second (every
    decision record is stamped)."""
    global _second, _second_text
    fraction, whole = math.modf(time.time())
    micros = round(fraction * 1_000_000)  # rounded as datetime.fromtimestamp rounds
    second = int(whole) + micros // 1_000_000
    if second != _second:
        _second_text = format_timestamp(datetime.fromtimestamp(second, UTC))[:19]
        _second = second
    return f"{_second_text}.{micros % 1_000_000:06d}Z"


_second = -1  # the second `_second_text` spells (Unix time)
_second_text = ""


def timestamp_ms(timestamp: str) -> int:
    return int(
        datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp() * 1000
    )


class AuditFilter(msgspec.Struct, kw_only=True, frozen=True):
    """What `/v1/audit/decisions` filters on; every field set must match."""

    user_id: str | None = None
    enterprise_id: str | None = None
    action: str | None = None
    resource_id: str | None = None
    allowed: bool | None = None
    req_id: str | None = None
    since: str | None = None  # format_timestamp(); inclusive
    until: str | None = None  # exclusive

    def matches(self, record: DecisionRecord) -> bool:
        return (
            _same(self.user_id, record.subject_id)
            and _same(self.enterprise_id, record.enterprise_id)
            and _same(self.action, record.action)
            and _same(self.resource_id, record.resource_id)
            and _same(self.allowed, record.allowed)
            and _same(self.req_id, record.req_id)
            and (self.since is None or record.timestamp >= self.since)
            and (self.until is None or record.timestamp < self.until)
        )

    def before_window(self, record: DecisionRecord) -> bool:
        """Scanning newest first, every record from here on is older than `since`."""
        if self.since is None:
            return False
        return timestamp_ms(record.timestamp) < timestamp_ms(self.since) - CLOCK_SLACK_MS


def _same(wanted: object, value: object) -> bool:
    return wanted is None or wanted == value


class QueryPage(msgspec.Struct, kw_only=True, frozen=True):
    """Newest first. `next_before` is the `seq` to continue below (None: nothing older)."""

    records: list[DecisionRecord]
    next_before: int | None = None


class DecisionLog(Protocol):
    async def append(self, records: Sequence[DecisionRecord]) -> list[DecisionRecord]:
        """Seal the (masked) records as the chain's next ones, in order, and keep them; the
        sealed records. BackendUnavailable when they could not be kept (none was)."""

    async def get(self, decision_id: str) -> DecisionRecord | None: ...

    async def query(self, where: AuditFilter, *, before: int | None, limit: int) -> QueryPage: ...

    def export(self, where: AuditFilter) -> AsyncIterator[bytes]:
        """Each matching record's stored JSON, oldest first (one OPA log line each)."""

    async def verify(self) -> ChainReport: ...

    async def check(self) -> None: ...

    async def aclose(self) -> None: ...
