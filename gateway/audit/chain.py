"""Walks the hash chain and names the first record that was altered, removed or reordered.

Each stored record is `(position, JSON)`: the position is where the log keeps it (the Redis
Stream id `0-<seq>`, the memory log's order, or the record's own `seq` in an export). A
record is intact when the SHA-256 of its canonical encoding is its `hash`, its `seq` is its
position, and its `prev_hash` is the `hash` of the record before it. The first record must
follow the floor (the last record retention removed, or the genesis), the last one must be
the head the log recorded, so removing the oldest or the newest record shows too.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable
from typing import Any, Literal

import msgspec

from gateway.audit.checkpoint import Checkpoint, CheckpointSigner
from gateway.audit.records import GENESIS, hash_of

# `unsigned`: records were removed from the head and no key signs checkpoints, so a trim
# cannot be told from a gap; `index`: a record is missing from an index a query reads.
Problem = Literal["altered", "removed", "reordered", "unreadable", "unsigned", "index"]


class ChainEnd(msgspec.Struct, kw_only=True, frozen=True):
    seq: int = 0
    hash: str = GENESIS


class ChainReport(msgspec.Struct, kw_only=True, frozen=True):
    ok: bool
    checked: int
    # The first problem: what, at which seq and decision, and the sentence for people.
    problem: Problem | None = None
    seq: int | None = None
    decision_id: str | None = None
    detail: str = ""
    head: ChainEnd | None = None
    # Retention removed records up to `trimmed.seq` (a checkpoint whose signature holds).
    trimmed: Checkpoint | None = None


class _Walk:
    def __init__(self, floor: ChainEnd, *, allow_gaps: bool) -> None:
        self.expected = floor.seq + 1
        self.prev_hash: str | None = floor.hash
        self.prev_id: str | None = None
        self.checked = 0
        self.allow_gaps = allow_gaps
        self.trimmed: Checkpoint | None = None

    def step(self, position: int, raw: bytes) -> ChainReport | None:
        try:
            fields: dict[str, Any] = msgspec.json.decode(raw)
            seq, decision_id = int(fields["seq"]), str(fields["decision_id"])
            own, prev = str(fields["hash"]), str(fields["prev_hash"])
        except (msgspec.DecodeError, KeyError, TypeError, ValueError):
            return self._fail("unreadable", position, None, f"record {position} is not a record")
        # A record shown to one enterprise's reader (`redacted`) no longer hashes to its
        # hash; in a filtered export its links are still checked.
        redacted = bool(fields.get("redacted")) and self.allow_gaps
        if not redacted and hash_of(fields) != own:
            return self._fail(
                "altered",
                seq,
                decision_id,
                f"record {seq} ({decision_id}) was altered: its content does not hash to its hash",
            )
        if seq != position:
            return self._fail(
                "reordered",
                position,
                decision_id,
                f"record {seq} ({decision_id}) is stored at position {position}",
            )
        if seq < self.expected:
            return self._fail(
                "reordered",
                seq,
                decision_id,
                f"record {seq} ({decision_id}) comes after record {self.expected - 1}",
            )
        if seq > self.expected:
            if not self.allow_gaps:
                missing = (
                    f"{self.expected}"
                    if seq == self.expected + 1
                    else (f"{self.expected}..{seq - 1}")
                )
                return self._fail(
                    "removed",
                    self.expected,
                    None,
                    f"record {missing} was removed (before record {seq}, {decision_id})",
                )
            self.prev_hash = None  # a subset: the link across a gap cannot be checked
        if self.prev_hash is not None and prev != self.prev_hash:
            return self._fail(
                "altered",
                seq - 1,
                self.prev_id,
                f"record {seq - 1} ({self.prev_id or 'before the oldest kept'}) was altered or "
                f"replaced: record {seq} ({decision_id}) does not chain to it",
            )
        self.expected, self.prev_hash, self.prev_id = seq + 1, own, decision_id
        self.checked += 1
        return None

    def finish(self, head: ChainEnd | None) -> ChainReport:
        last = ChainEnd(seq=self.expected - 1, hash=self.prev_hash or "")
        if head is not None and last.seq < head.seq:
            return self._fail(
                "removed",
                last.seq + 1,
                None,
                f"records {last.seq + 1}..{head.seq} were removed (the newest)",
            )
        if head is not None and last.seq == head.seq and last.hash != head.hash:
            return self._fail(
                "altered",
                last.seq,
                self.prev_id,
                f"record {last.seq} ({self.prev_id}) is not the one the log's head recorded",
            )
        return ChainReport(ok=True, checked=self.checked, head=last, trimmed=self.trimmed)

    def _fail(
        self, problem: Problem, seq: int, decision_id: str | None, detail: str
    ) -> ChainReport:
        return ChainReport(
            ok=False,
            checked=self.checked,
            problem=problem,
            seq=seq,
            decision_id=decision_id,
            detail=detail,
        )


def checked_floor(
    checkpoint: Checkpoint | None, signer: CheckpointSigner
) -> tuple[ChainEnd, ChainReport | None]:
    """Where a log's chain starts — the genesis, or the retention checkpoint when its
    signature holds — or the report of why it cannot start there (a gap, not a trim)."""
    if checkpoint is None or checkpoint.seq == 0:
        return ChainEnd(), None
    gone = f"records 1..{checkpoint.seq}" if checkpoint.seq > 1 else "record 1"
    signature = signer.check(checkpoint)
    if signature == "signed":
        return ChainEnd(seq=checkpoint.seq, hash=checkpoint.hash), None
    if signature == "forged":
        problem: Problem = "removed"
        detail = (
            f"{gone} are gone and the retention checkpoint's signature does not hold: "
            "a gap, not a trim"
        )
    elif signer.signs:
        problem = "removed"
        detail = f"{gone} are gone and no signed retention checkpoint says why: a gap, not a trim"
    else:
        problem = "unsigned"
        detail = (
            f"{gone} were removed and checkpoints are unsigned (set GATEWAY_AUDIT_CHECKPOINT_KEY"
            " or GATEWAY_JWT_SECRET): a trim cannot be told from a gap"
        )
    return ChainEnd(), ChainReport(
        ok=False, checked=0, problem=problem, seq=checkpoint.seq, detail=detail
    )


async def verify_chain(
    entries: AsyncIterable[tuple[int, bytes]],
    *,
    floor: ChainEnd | None = None,
    head: ChainEnd | None = None,
    allow_gaps: bool = False,
    trimmed: Checkpoint | None = None,
) -> ChainReport:
    """`entries` in stored order. `floor` None: start at the first record (an export that
    does not begin at the log's floor); `head` None: end anywhere. `trimmed`: the checked
    checkpoint `floor` comes from, reported as a trim."""
    # Closed here, failing or not: a generator left suspended on a failing verify was closed
    # by asyncio.run's shutdown after its Redis client or HTTP stream, and the CLI printed
    # `RuntimeError: aclose(): asynchronous generator is already running`.
    closing = entries if isinstance(entries, AsyncGenerator) else None
    try:
        return await _walk_all(entries, floor, head, allow_gaps, trimmed)
    finally:
        if closing is not None:
            await closing.aclose()


async def _walk_all(
    entries: AsyncIterable[tuple[int, bytes]],
    floor: ChainEnd | None,
    head: ChainEnd | None,
    allow_gaps: bool,
    trimmed: Checkpoint | None,
) -> ChainReport:
    walk: _Walk | None = None
    async for position, raw in entries:
        if walk is None:
            if floor is None:  # trust the first record's own link: nothing to compare it to
                try:
                    first = msgspec.json.decode(raw)
                    floor = ChainEnd(seq=int(first["seq"]) - 1, hash=str(first["prev_hash"]))
                except (msgspec.DecodeError, KeyError, TypeError, ValueError):
                    floor = ChainEnd(seq=position - 1)
            walk = _Walk(floor, allow_gaps=allow_gaps)
            walk.trimmed = trimmed
        failed = walk.step(position, raw)
        if failed is not None:
            return failed
    if walk is None:
        walk = _Walk(floor or ChainEnd(), allow_gaps=allow_gaps)
        walk.trimmed = trimmed
    return walk.finish(head)
