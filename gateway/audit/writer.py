"""Takes the records of each request off the request path: masks them (gateway/audit/
masking.py) and appends them to the log in batches, one Redis round trip per batch.

Two modes (`GATEWAY_AUDIT_REQUIRED`):

- false (default): `submit` queues and returns. A failing log is retried with backoff while
  the queue holds up to `queue_size` records; beyond that new records are dropped, counted,
  and a warning is logged at most every 10 seconds. `/readyz` shows the counts.
- true: the Authorizer `write`s each record before its decision takes effect; `write`
  returns once the record is in the log (records of concurrent requests share a batch),
  and raises LogUnavailable (503) when it cannot be, so nothing is done unlogged. While the
  log is failing, decisions are refused (503) at once, and the writer probes the log until
  it answers again. These records carry no HTTP status: it is not known yet.

What a crash can lose is the queue (default mode): measured in docs/audit.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from gateway.audit.log import DecisionLog
from gateway.audit.masking import Masker
from gateway.audit.records import DecisionRecord
from gateway.audit.volume import SubjectVolume, cap_input
from gateway.errors import BackendUnavailable
from gateway.observability.metrics import (
    DECISION_LOG_FAILURES,
    RECORDS_DROPPED,
    RECORDS_WRITTEN,
    observe_denial,
)

log = logging.getLogger(__name__)

_WARN_EVERY_S = 10.0
_BATCH = 256
_REQUIRED_WAIT_S = 5.0
# A marketplace page of ~100 listings (38 KB for the 16 bundled ones) fits; a 481 KB
# server change (64 x 4 KB arguments) is cut.
DEFAULT_MAX_INPUT_BYTES = 256 * 1024


class LogUnavailable(BackendUnavailable):
    """The decision log cannot take records now (GATEWAY_AUDIT_REQUIRED: a 503)."""


class WriterStats(msgspec.Struct, kw_only=True):
    written: int = 0
    queued: int = 0
    dropped: int = 0
    failed_writes: int = 0
    mask_failures: int = 0
    # Records of subjects over their volume budget, counted in summary records instead.
    suppressed: int = 0
    last_error: str | None = None


@dataclass
class _Item:
    record: DecisionRecord | None  # None: a flush marker
    done: asyncio.Future[None] | None = None
    masked: bool = False


def _count_denials(record: DecisionRecord) -> None:
    """gateway_policy_denials_total, by rule: counted as records are written (off the
    request path), each item of a page decision on its own."""
    result = record.result if isinstance(record.result, dict) else {}
    if record.allowed is False:
        _observe_codes(result)
    elif record.items_denied and isinstance(result.get("decisions"), dict):
        for item in result["decisions"].values():
            if isinstance(item, dict) and item.get("allow") is not True:
                _observe_codes(item)


def _observe_codes(result: Any) -> None:
    reasons = result.get("reasons") if isinstance(result, dict) else None
    codes = [r.get("code") for r in reasons or [] if isinstance(r, dict)]
    for code in [c for c in codes if isinstance(c, str)] or ["no_reason"]:
        observe_denial(code)


class AuditWriter:
    def __init__(
        self,
        log_: DecisionLog,
        masker: Masker,
        *,
        required: bool = False,
        queue_size: int = 10_000,
        max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES,
        volume: SubjectVolume | None = None,
    ) -> None:
        self.log = log_
        self._max_input_bytes = max_input_bytes
        self._volume = volume
        self.required = required
        self._masker = masker
        self._queue_size = queue_size
        self._queue: deque[_Item] = deque()
        self._pending = 0  # records (not markers) in the queue
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self._warned_at = 0.0
        self.stats = WriterStats()

    # --- taking records ------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-writer")

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the writer runs on (where its futures and the log's connections live)."""
        if self._task is None:
            raise RuntimeError("the decision log writer is not started")
        return self._task.get_loop()

    @property
    def failing(self) -> bool:
        return self._failing

    def ensure_writable(self) -> None:
        """In required mode, refuse to decide while the log is failing: nothing is done that
        could not be logged."""
        if self.required and self._failing:
            raise LogUnavailable(f"decision log unavailable: {self.stats.last_error}")

    def submit(self, records: Sequence[DecisionRecord]) -> None:
        if not records:
            return
        if self._pending + len(records) > self._queue_size:
            self.stats.dropped += len(records)
            RECORDS_DROPPED.inc(len(records))
            self._warn("decision log queue full")
            return
        self._queue.extend(_Item(record) for record in records)
        self._pending += len(records)
        self._wakeup.set()

    async def write(self, records: Sequence[DecisionRecord]) -> None:
        """Return once every record is in the log; LogUnavailable when they cannot be."""
        if not records:
            return
        if self._pending + len(records) > self._queue_size:
            self.stats.dropped += len(records)
            RECORDS_DROPPED.inc(len(records))
            raise LogUnavailable("decision log unavailable: its queue is full")
        loop = asyncio.get_running_loop()
        items = [_Item(record, loop.create_future()) for record in records]
        self._queue.extend(items)
        self._pending += len(items)
        self._wakeup.set()
        try:
            async with asyncio.timeout(_REQUIRED_WAIT_S):
                for item in items:
                    assert item.done is not None
                    await asyncio.shield(item.done)
        except TimeoutError as exc:
            raise LogUnavailable("decision log unavailable: the write timed out") from exc

    async def flush(self, wait_seconds: float = 2.0) -> bool:
        """Wait until what was queued before is written (or failed); False on timeout."""
        if self._task is None:
            return not self._queue
        marker = _Item(None, asyncio.get_running_loop().create_future())
        self._queue.append(marker)
        self._wakeup.set()
        assert marker.done is not None
        try:
            async with asyncio.timeout(wait_seconds):
                await asyncio.shield(marker.done)
        except TimeoutError:
            return False
        return True

    # --- writing -------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            if not self._queue:
                self._wakeup.clear()
                if self._failing:  # probe the log even when nothing comes (required mode)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.5):
                            await self._wakeup.wait()
                else:
                    # A subject's suppressed records are summed up when its window closes,
                    # even if nothing else comes.
                    due = self._volume.next_due() if self._volume else None
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(due):
                            await self._wakeup.wait()
            batch = self._take()
            records = [item for item in batch if item.record is not None]
            if self._volume is not None and not self._failing:
                summaries = [_Item(summary, masked=True) for summary in self._volume.due()]
                batch += summaries
                records += summaries
            try:
                if records:
                    await self._append(records)
                elif self._failing:
                    await self.log.check()
            except BackendUnavailable as exc:
                self._failed(batch, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            except Exception as exc:  # never let the writer die: count, keep going
                log.exception("decision log writer error")
                self._failed(batch, BackendUnavailable(f"writer error: {exc}"))
                await asyncio.sleep(backoff)
                continue
            backoff = 0.05
            self._failing = False
            for item in batch:
                if item.done is not None and not item.done.done():
                    item.done.set_result(None)

    def _take(self) -> list[_Item]:
        """Up to a batch of records, and every flush marker among them."""
        batch: list[_Item] = []
        taken = 0
        while self._queue and taken < _BATCH:
            item = self._queue.popleft()
            batch.append(item)
            if item.record is not None:
                taken += 1
                self._pending -= 1
        return batch

    async def _append(self, items: list[_Item]) -> None:
        for item in items:
            if not item.masked and item.record is not None:
                item.record = await self._masker.mask(item.record)
                item.masked = True
        self.stats.mask_failures = self._masker.failures
        for item in items:
            if item.record is not None:
                _count_denials(item.record)
        capped = [
            cap_input(item.record, self._max_input_bytes)
            for item in items
            if item.record is not None
        ]
        if self._volume is not None:
            # Required mode: each record was promised before its decision took effect, so
            # none is folded into a later summary (only cut).
            capped = self._volume.admit(capped, suppress=not self.required)
            self.stats.suppressed = self._volume.suppressed_total
        await self.log.append(capped)
        self.stats.written += len(capped)
        RECORDS_WRITTEN.inc(len(capped))

    def _failed(self, batch: list[_Item], exc: BackendUnavailable) -> None:
        self._failing = True
        self.stats.failed_writes += 1
        DECISION_LOG_FAILURES.inc()
        self.stats.last_error = exc.detail
        retry: list[_Item] = []
        for item in batch:
            if item.done is not None:
                # A request waits on it (required mode) or a flush does: they answer now.
                if not item.done.done():
                    if item.record is None:
                        item.done.set_result(None)
                    else:
                        item.done.set_exception(
                            LogUnavailable(f"decision log unavailable: {exc.detail}")
                        )
            elif item.record is not None:
                retry.append(item)
        # Default mode: put the records back in front, oldest first, to retry.
        self._queue.extendleft(reversed(retry))
        self._pending += len(retry)
        self._warn(f"decision log write failed ({exc.detail})")

    def _warn(self, what: str) -> None:
        now = time.monotonic()
        if now - self._warned_at < _WARN_EVERY_S:
            return
        self._warned_at = now
        s = self.stats
        log.warning(
            "%s: %d records waiting, %d dropped so far, %d failed writes",
            what,
            self._pending,
            s.dropped,
            s.failed_writes,
        )

    def snapshot(self) -> WriterStats:
        self.stats.queued = self._pending
        return msgspec.structs.replace(self.stats)

    async def aclose(self, wait_seconds: float = 5.0) -> None:
        """Write what is queued (for at most `wait_seconds`), then stop. At shutdown this
        runs after uvicorn has drained the requests in flight (GATEWAY_SHUTDOWN_GRACE_SECONDS),
        so their records are among what is written."""
        if self._task is None:
            return
        waiting = self._pending
        flushed = await self.flush(wait_seconds)
        if not flushed or self._pending:
            log.error("decision log: %d records not written at shutdown", self._pending)
        elif waiting:
            log.info("decision log: %d queued records written at shutdown", waiting)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
