"""Where decision records go. The memory log keeps a bounded window for the embedded mode."""

from __future__ import annotations

from collections import deque
from typing import Protocol

from gateway.audit.records import DecisionRecord


class DecisionLog(Protocol):
    async def record(self, entry: DecisionRecord) -> None: ...

    async def get(self, decision_id: str) -> DecisionRecord | None: ...

    async def check(self) -> None: ...


class MemoryDecisionLog:
    def __init__(self, max_records: int = 10_000) -> None:
        self._records: deque[DecisionRecord] = deque(maxlen=max_records)

    async def record(self, entry: DecisionRecord) -> None:
        self._records.append(entry)

    async def get(self, decision_id: str) -> DecisionRecord | None:
        return next((r for r in self._records if r.decision_id == decision_id), None)

    def records(self) -> list[DecisionRecord]:
        return list(self._records)

    async def check(self) -> None:
        return None
