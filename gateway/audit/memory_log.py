"""The decision log of a gateway without Redis: this process's records, in memory, bounded
by the bytes of their JSON and by age (the oldest go first), chained like the Redis log.
Lost on restart and invisible to other replicas, by nature: production uses Redis."""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

from gateway.audit.chain import ChainEnd, ChainReport, checked_floor, verify_chain
from gateway.audit.checkpoint import Checkpoint, CheckpointSigner
from gateway.audit.log import AuditFilter, QueryPage, format_timestamp, timestamp_ms
from gateway.audit.records import DecisionRecord, decode_record, seal

DEFAULT_MAX_BYTES = 32 * 1024 * 1024


class MemoryDecisionLog:
    DEFAULT_MAX_BYTES = DEFAULT_MAX_BYTES

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age_seconds: float = 30 * 86400,
        signer: CheckpointSigner | None = None,
    ) -> None:
        # Without a configured key, one of this process's own: the log lives and dies with it.
        self._signer = signer if signer and signer.signs else CheckpointSigner(os.urandom(32))
        self._checkpoint: Checkpoint | None = None
        self._max_bytes = max_bytes
        self._max_age_ms = int(max_age_seconds * 1000)
        self._entries: deque[tuple[DecisionRecord, bytes]] = deque()
        self._by_id: dict[str, DecisionRecord] = {}
        self._bytes = 0
        self._head = ChainEnd()
        self._lock = asyncio.Lock()

    @property
    def size_bytes(self) -> int:
        return self._bytes

    async def append(self, records: Sequence[DecisionRecord]) -> list[DecisionRecord]:
        sealed_all = []
        async with self._lock:
            for record in records:
                _, raw = seal(record, self._head.seq + 1, self._head.hash)
                sealed = decode_record(raw)  # as a reader gets it: `input` a dict, not raw JSON
                self._entries.append((sealed, raw))
                self._by_id[sealed.decision_id] = sealed
                self._bytes += len(raw)
                self._head = ChainEnd(seq=sealed.seq, hash=sealed.hash)
                sealed_all.append(sealed)
            self._trim()
        return sealed_all

    def _trim(self) -> None:
        cutoff = int(time.time() * 1000) - self._max_age_ms
        while self._entries and (
            self._bytes > self._max_bytes or timestamp_ms(self._entries[0][0].timestamp) < cutoff
        ):
            reason = "bytes" if self._bytes > self._max_bytes else "age"
            oldest, raw = self._entries.popleft()
            self._bytes -= len(raw)
            if self._by_id.get(oldest.decision_id) is oldest:
                del self._by_id[oldest.decision_id]
            self._checkpoint = self._signer.sign(
                oldest.seq, oldest.hash, format_timestamp(datetime.now(UTC)), reason
            )

    @property
    def _floor(self) -> ChainEnd:
        cp = self._checkpoint
        return ChainEnd(seq=cp.seq, hash=cp.hash) if cp else ChainEnd()

    def records(self) -> list[DecisionRecord]:
        """Every record kept, oldest first."""
        return [record for record, _ in self._entries]

    async def get(self, decision_id: str) -> DecisionRecord | None:
        return self._by_id.get(decision_id)

    async def query(self, where: AuditFilter, *, before: int | None, limit: int) -> QueryPage:
        found: list[DecisionRecord] = []
        for record, _ in reversed(self._entries):
            if before is not None and record.seq >= before:
                continue
            if where.before_window(record):
                break
            if where.matches(record):
                found.append(record)
                if len(found) == limit:
                    return QueryPage(records=found, next_before=record.seq)
        return QueryPage(records=found)

    async def export(self, where: AuditFilter) -> AsyncIterator[bytes]:
        for record, raw in list(self._entries):
            if where.matches(record):
                yield raw

    async def _stored(self) -> AsyncIterator[tuple[int, bytes]]:
        for position, (_, raw) in enumerate(list(self._entries), start=self._floor.seq + 1):
            yield position, raw

    async def verify(self) -> ChainReport:
        floor, failed = checked_floor(self._checkpoint, self._signer)
        if failed is not None:
            return failed
        return await verify_chain(
            self._stored(), floor=floor, head=self._head, trimmed=self._checkpoint
        )

    async def check(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
