"""The decision log in Redis: one Stream every replica appends to (entry id `0-<seq>`, the
record's place in the hash chain), indexes by user, enterprise, resource and request (sorted
sets of seqs, so a query about one user reads that user's records only), a time index for
since/until, and a key per decision id. Layout: keys.py.

Replicas share one chain. A replica seals a batch after the head it last saw and appends it
with one Lua script that checks the head is still that one (compare-and-set): when another
replica appended in between, the script answers the real head and the batch is sealed again
after it. One round trip per batch when uncontended.

Retention: the script removes the oldest records while the log holds more than `max_bytes`
of record JSON or records older than `max_age_seconds`; the hash of the last one removed
becomes the chain's floor, so `verify` still checks the first record kept. Index entries
expire with the records (a TTL of the age limit on every index key, refreshed by writes).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from gateway.audit.chain import ChainEnd, ChainReport, checked_floor, verify_chain
from gateway.audit.checkpoint import Checkpoint, CheckpointSigner
from gateway.audit.log import (
    CLOCK_SLACK_MS,
    AuditFilter,
    QueryPage,
    format_timestamp,
    timestamp_ms,
)
from gateway.audit.records import GENESIS, DecisionRecord, decode_record, seal
from gateway.errors import BackendUnavailable
from gateway.stores.redis import keys as k
from gateway.stores.redis.client import (
    REDIS_ERRORS,
    RedisClient,
    text,
    translate_errors,
    unavailable,
)
from gateway.stores.redis.scripts import APPEND_DECISIONS, TRIM_DECISIONS

DEFAULT_MAX_BYTES = 1024 * 1024 * 1024
_CAS_ATTEMPTS = 50
_SCAN_CHUNK = 200
# A query reads at most this many records before it answers (with a cursor to go on): a
# filter that matches nothing never walks the whole log in one request.
_SCAN_BUDGET = 20_000


def _indexes(record: DecisionRecord) -> list[str]:
    wanted = (
        ("user", record.subject_id),
        ("ent", record.enterprise_id),
        ("res", record.resource_id),
        ("req", record.req_id),
    )
    return [k.audit_index(kind, value) for kind, value in wanted if value]


def _entry_id(seq: int) -> str:
    return f"0-{seq}"


def _seq_of(entry_id: bytes | str) -> int:
    return int(text(entry_id).partition("-")[2])


def _stored(reply: Any) -> list[tuple[int, bytes]]:
    """An XRANGE/XREVRANGE reply as (seq, record JSON) pairs."""
    return [(_seq_of(entry_id), fields[b"r"]) for entry_id, fields in reply or ()]


class RedisDecisionLog:
    DEFAULT_MAX_BYTES = DEFAULT_MAX_BYTES

    def __init__(
        self,
        client: RedisClient,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age_seconds: float = 30 * 86400,
        signer: CheckpointSigner | None = None,
    ) -> None:
        self._client = client
        self._signer = signer or CheckpointSigner(None)
        self._append = client.register_script(APPEND_DECISIONS)
        self._trim = client.register_script(TRIM_DECISIONS)
        self._max_bytes = max_bytes
        self._max_age_ms = int(max_age_seconds * 1000)
        self._ttl = max(1, int(max_age_seconds))
        self._head = ChainEnd()  # the head this replica last saw; corrected by the script

    @translate_errors
    async def append(self, records: Sequence[DecisionRecord]) -> list[DecisionRecord]:
        if not records:
            return []
        for _ in range(_CAS_ATTEMPTS):
            sealed, keys, args = self._sealed_after(self._head, records)
            answer = await self._append(keys=keys, args=args)
            done, seq, head_hash = int(answer[0]), int(text(answer[1])), text(answer[2])
            self._head = ChainEnd(seq=seq, hash=head_hash if seq else GENESIS)
            if done:
                kept, oldest_ms = int(answer[3]), int(text(answer[4]))
                if kept > self._max_bytes or oldest_ms < self._cutoff_ms():
                    await self._retain(kept)
                return sealed
        raise BackendUnavailable("decision log: too many replicas appending at once")

    def _cutoff_ms(self) -> int:
        return int(time.time() * 1000) - self._max_age_ms

    async def _retain(self, kept: int) -> None:
        """Remove the oldest records while the log is over its byte budget or its age."""
        cutoff = self._cutoff_ms()
        while True:
            oldest: Any = await self._client.xrange(k.AUDIT_LOG, "-", "+", count=_SCAN_CHUNK)
            going: list[tuple[int, dict[bytes, bytes]]] = []
            reason = "age"
            for entry_id, fields in oldest:
                if kept <= self._max_bytes and int(fields[b"t"]) >= cutoff:
                    break
                reason = "bytes" if kept > self._max_bytes else "age"
                going.append((_seq_of(entry_id), fields))
                kept -= len(fields[b"r"])
            if not going:
                return
            keys = [k.AUDIT_LOG, k.AUDIT_HEAD, k.AUDIT_TIME]
            args: list[Any] = [len(going)]
            for seq, fields in going:
                indexes = text(fields[b"i"]).split()
                keys += [text(fields[b"d"]), *indexes]
                args += [seq, fields[b"h"], len(fields[b"r"]), len(indexes)]
            last_seq, last = going[-1]
            checkpoint = self._signer.sign(
                last_seq, text(last[b"h"]), format_timestamp(datetime.now(UTC)), reason
            )
            args += [checkpoint.seq, checkpoint.hash, checkpoint.at, reason, checkpoint.mac]
            await self._trim(keys=keys, args=args)
            if len(going) < len(oldest) or len(oldest) < _SCAN_CHUNK:
                return

    def _sealed_after(
        self, head: ChainEnd, records: Sequence[DecisionRecord]
    ) -> tuple[list[DecisionRecord], list[str], list[Any]]:
        keys = [k.AUDIT_LOG, k.AUDIT_HEAD, k.AUDIT_TIME]
        args: list[Any] = [head.seq, head.hash, self._ttl, len(records)]
        sealed_all = []
        seq, prev = head.seq, head.hash
        for record in records:
            seq += 1
            sealed, raw = seal(record, seq, prev)
            prev = sealed.hash
            indexes = _indexes(sealed)
            keys += [k.audit_decision(sealed.decision_id), *indexes]
            args += [seq, sealed.hash, timestamp_ms(sealed.timestamp), raw, len(indexes)]
            sealed_all.append(sealed)
        return sealed_all, keys, args

    async def _read(self, seqs: Sequence[int]) -> list[tuple[int, bytes]]:
        """The stored JSON of these seqs, in order; those retention removed are skipped."""
        pipe = self._client.pipeline(transaction=False)
        for seq in seqs:
            pipe.xrange(k.AUDIT_LOG, _entry_id(seq), _entry_id(seq))
        found: list[tuple[int, bytes]] = []
        for entries in await pipe.execute():
            found += _stored(entries)
        return found

    @translate_errors
    async def get(self, decision_id: str) -> DecisionRecord | None:
        seq = await self._client.get(k.audit_decision(decision_id))
        if seq is None:
            return None
        found = await self._read([int(seq)])
        return decode_record(found[0][1]) if found else None

    def _index_for(self, where: AuditFilter) -> str | None:
        """The most selective index the filter names."""
        for kind, value in (
            ("req", where.req_id),
            ("res", where.resource_id),
            ("user", where.user_id),
            ("ent", where.enterprise_id),
        ):
            if value:
                return k.audit_index(kind, value)
        return None

    async def _seq_bounds(self, where: AuditFilter) -> tuple[int | None, int | None]:
        """The seqs between which records of the since/until window lie (with slack)."""
        low = high = None
        if where.until is not None:
            until = timestamp_ms(where.until) + CLOCK_SLACK_MS
            newest: Any = await self._client.zrevrangebyscore(k.AUDIT_TIME, until, "-inf", 0, 1)
            high = int(newest[0]) + 1 if newest else 0
        if where.since is not None:
            since = timestamp_ms(where.since) - CLOCK_SLACK_MS
            oldest: Any = await self._client.zrangebyscore(k.AUDIT_TIME, since, "+inf", 0, 1)
            low = int(oldest[0]) if oldest else None
        return low, high

    async def _candidates(
        self, where: AuditFilter, before: int | None
    ) -> AsyncIterator[tuple[int, bytes]]:
        """Records that may match, newest first, below `before`."""
        index = self._index_for(where)
        low, high = await self._seq_bounds(where)
        if high is not None:
            before = high if before is None else min(before, high)
        if before is not None and before < 1:
            return  # seqs start at 1, so nothing lies below (and XREVRANGE refuses "(0-0")
        top = "+inf" if before is None else f"({before}"
        bottom = "-inf" if low is None else str(low)
        while True:
            if index is not None:
                members: Any = await self._client.zrevrangebyscore(
                    index, top, bottom, 0, _SCAN_CHUNK
                )
                seqs = [int(member) for member in members]
                chunk = await self._read(seqs)
            else:
                chunk = _stored(
                    await self._client.xrevrange(
                        k.AUDIT_LOG,
                        "+" if before is None else f"({_entry_id(before)}",
                        "-" if low is None else _entry_id(low),
                        count=_SCAN_CHUNK,
                    )
                )
                seqs = [seq for seq, _ in chunk]
            for item in chunk:
                yield item
            if len(seqs) < _SCAN_CHUNK:
                return
            before = seqs[-1]
            top = f"({before}"

    @translate_errors
    async def query(self, where: AuditFilter, *, before: int | None, limit: int) -> QueryPage:
        found: list[DecisionRecord] = []
        scanned = 0
        async for seq, raw in self._candidates(where, before):
            record = decode_record(raw)
            if where.before_window(record):
                break
            if where.matches(record):
                found.append(record)
                if len(found) == limit:
                    return QueryPage(records=found, next_before=seq)
            scanned += 1
            if scanned >= _SCAN_BUDGET:
                return QueryPage(records=found, next_before=seq)
        return QueryPage(records=found)

    async def export(self, where: AuditFilter) -> AsyncIterator[bytes]:
        """Oldest first, read in chunks (an export of the whole log never sits in memory),
        through the filter's index when it names one."""
        low, high = await self._seq_bounds(where)
        index = self._index_for(where)
        try:
            async for chunk in self._ascending(index, low, high):
                for _, raw in chunk:
                    if where.matches(decode_record(raw)):
                        yield raw
        except REDIS_ERRORS as exc:  # translate_errors cannot wrap a generator
            raise unavailable(exc) from exc

    async def _ascending(
        self, index: str | None, low: int | None, high: int | None
    ) -> AsyncIterator[list[tuple[int, bytes]]]:
        """Chunks of (seq, JSON) from `low` up to below `high`, oldest first."""
        after = None if low is None else low - 1
        while True:
            if index is not None:
                members: Any = await self._client.zrangebyscore(
                    index,
                    "-inf" if after is None else f"({after}",
                    "+inf" if high is None else f"({high}",
                    0,
                    _SCAN_CHUNK,
                )
                seqs = [int(member) for member in members]
                chunk = await self._read(seqs)
            else:
                chunk = _stored(
                    await self._client.xrange(
                        k.AUDIT_LOG,
                        "-" if after is None else f"({_entry_id(after)}",
                        "+" if high is None else f"({_entry_id(high)}",
                        count=_SCAN_CHUNK,
                    )
                )
                seqs = [seq for seq, _ in chunk]
            yield chunk
            if len(seqs) < _SCAN_CHUNK:
                return
            after = seqs[-1]

    async def _stored(self) -> AsyncIterator[tuple[int, bytes]]:
        start = "-"
        while True:
            entries = _stored(await self._client.xrange(k.AUDIT_LOG, start, "+", count=1000))
            for entry in entries:
                yield entry
            if len(entries) < 1000:
                return
            start = f"({_entry_id(entries[-1][0])}"

    @translate_errors
    async def verify(self) -> ChainReport:
        head = await self._client.hgetall(k.AUDIT_HEAD)
        fields = {text(name): text(value) for name, value in head.items()}
        checkpoint = Checkpoint(
            seq=int(fields.get("floor_seq", 0)),
            hash=fields.get("floor_hash", GENESIS),
            at=fields.get("floor_at", ""),
            reason=fields.get("floor_reason", ""),
            mac=fields.get("floor_mac", ""),
        )
        floor, failed = checked_floor(checkpoint, self._signer)
        if failed is not None:
            return failed
        last = ChainEnd(seq=int(fields.get("seq", 0)), hash=fields.get("hash", GENESIS))
        report = await verify_chain(
            self._stored(), floor=floor, head=last, trimmed=checkpoint if floor.seq else None
        )
        if report.ok:
            return await self._verify_indexes(report)
        return report

    async def _entries(self) -> AsyncIterator[list[tuple[int, dict[bytes, bytes]]]]:
        """The stream's entries with every field, oldest first, in chunks."""
        start = "-"
        while True:
            chunk: Any = await self._client.xrange(k.AUDIT_LOG, start, "+", count=1000)
            entries = [(_seq_of(entry_id), fields) for entry_id, fields in chunk or ()]
            if entries:
                yield entries
            if len(entries) < 1000:
                return
            start = f"({_entry_id(entries[-1][0])}"

    async def _verify_indexes(self, report: ChainReport) -> ChainReport:
        """Every record kept is in each index a query would read it through, and its decision
        id finds it: a deleted index entry (`DEL gw:{audit}:user:bob`) is named, not a query
        silently coming back empty. Records about to expire by age are not asked about (their
        index keys expire with them)."""
        due = self._cutoff_ms() + CLOCK_SLACK_MS
        async for chunk in self._entries():
            pipe = self._client.pipeline(transaction=False)
            asked: list[tuple[int, str, bytes]] = []
            for seq, fields in chunk:
                if int(fields[b"t"]) < due:
                    continue
                for index in text(fields.get(b"i", b"")).split():
                    pipe.zscore(index, str(seq))
                    asked.append((seq, index, fields[b"r"]))
                pipe.get(text(fields[b"d"]))
                asked.append((seq, text(fields[b"d"]), fields[b"r"]))
            for (seq, key, raw), answer in zip(asked, await pipe.execute(), strict=True):
                found = answer is not None and int(float(answer)) == seq
                if not found:
                    decision_id = decode_record(raw).decision_id
                    return ChainReport(
                        ok=False,
                        checked=report.checked,
                        problem="index",
                        seq=seq,
                        decision_id=decision_id,
                        detail=(
                            f"record {seq} ({decision_id}) is missing from {key}: queries "
                            "through it would not find the record (`gateway audit reindex` "
                            "rebuilds the indexes from the stream)"
                        ),
                        head=report.head,
                        trimmed=report.trimmed,
                    )
        return report

    @translate_errors
    async def reindex(self) -> int:
        """Rebuild every index entry and decision-id key from the stream (the stream is the
        record; indexes only find it). The number of records indexed."""
        done = 0
        async for chunk in self._entries():
            pipe = self._client.pipeline(transaction=False)
            for seq, fields in chunk:
                for index in text(fields.get(b"i", b"")).split():
                    pipe.zadd(index, {str(seq): seq})
                    pipe.expire(index, self._ttl)
                pipe.set(text(fields[b"d"]), seq, ex=self._ttl)
                pipe.zadd(k.AUDIT_TIME, {str(seq): int(fields[b"t"])})
            await pipe.execute()
            done += len(chunk)
        return done

    @translate_errors
    async def check(self) -> None:
        await self._client.ping()

    async def aclose(self) -> None:
        return None  # the client is shared with the stores, which close it
