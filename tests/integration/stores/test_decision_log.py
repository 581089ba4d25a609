"""The decision log's contract, on the memory log and on the Redis Stream: one hash chain,
queries by index newest first, retention by bytes and by age, and `verify` naming the
record that was altered, removed or reordered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
import redis.asyncio as aredis

from gateway.audit.chain import ChainReport, verify_chain
from gateway.audit.checkpoint import CheckpointSigner
from gateway.audit.log import AuditFilter, DecisionLog, format_timestamp
from gateway.audit.memory_log import MemoryDecisionLog
from gateway.audit.records import BundleInfo, DecisionRecord, decode_record, hash_of
from gateway.audit.redis_log import RedisDecisionLog
from gateway.stores.redis import keys as k
from gateway.stores.redis.client import RedisClient

SIGNER = CheckpointSigner(b"k" * 32)


def record(n: int, *, user: str = "alice", allowed: bool = True, **fields: Any) -> DecisionRecord:
    at = fields.pop("at", datetime.now(UTC))
    return DecisionRecord(
        decision_id=f"d-{n}",
        path="gateway/authz/decision",
        input={"action": "mcp_server.read", "subject": {"id": user}, "n": n},
        result={"allow": allowed, "visible": True, "reasons": []},
        timestamp=format_timestamp(at),
        bundles={"gateway": BundleInfo(revision="rev")},
        labels={"id": "test", "version": "0", "engine": "embedded"},
        subject_id=user,
        action="mcp_server.read",
        allowed=allowed,
        **fields,
    )


@pytest.fixture
def redis_client(each_redis_client: RedisClient) -> RedisClient:
    """Each test on one Redis, then on the three-primary cluster."""
    return each_redis_client


@pytest.fixture(params=["memory", "redis", "cluster"])
def log_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_log(log_kind: str, request: pytest.FixtureRequest) -> Any:
    client: RedisClient | None = None
    if log_kind == "redis":
        client = request.getfixturevalue("single_redis_client")
    elif log_kind == "cluster":
        client = request.getfixturevalue("redis_cluster3_client")

    def make(**limits: Any) -> DecisionLog:
        limits.setdefault("signer", SIGNER)
        if client is None:
            return MemoryDecisionLog(**limits)
        return RedisDecisionLog(client, **limits)

    return make


async def test_records_chain_and_are_found_by_id(make_log: Any) -> None:
    log = make_log()
    sealed = await log.append([record(1), record(2)])
    assert [r.seq for r in sealed] == [1, 2]
    assert sealed[0].prev_hash == "0" * 64 and sealed[1].prev_hash == sealed[0].hash
    got = await log.get("d-2")
    assert got is not None and got.hash == sealed[1].hash and got.input["n"] == 2
    assert await log.get("d-404") is None
    assert (await log.verify()).ok


async def test_a_query_is_newest_first_filtered_and_paged(make_log: Any) -> None:
    log = make_log()
    await log.append(
        [record(i, user="bob" if i % 2 else "alice", allowed=i % 3 != 0) for i in range(1, 21)]
    )
    where = AuditFilter(user_id="bob", allowed=False)
    first = await log.query(where, before=None, limit=2)
    assert [r.decision_id for r in first.records] == ["d-15", "d-9"]
    rest = await log.query(where, before=first.next_before, limit=2)
    assert [r.decision_id for r in rest.records] == ["d-3"]
    everything = await log.query(AuditFilter(), before=None, limit=100)
    assert [r.seq for r in everything.records] == list(range(20, 0, -1))
    assert everything.next_before is None


async def test_since_and_until_bound_by_the_decisions_time(make_log: Any) -> None:
    log = make_log()
    now = datetime.now(UTC)
    await log.append([record(i, at=now - timedelta(minutes=10 - i)) for i in range(10)])
    where = AuditFilter(
        since=format_timestamp(now - timedelta(minutes=7)),
        until=format_timestamp(now - timedelta(minutes=3)),
    )
    found = await log.query(where, before=None, limit=100)
    assert [r.decision_id for r in found.records] == ["d-6", "d-5", "d-4", "d-3"]
    exported = [decode_record(raw).decision_id async for raw in log.export(where)]
    assert exported == ["d-3", "d-4", "d-5", "d-6"]  # the export is oldest first


async def test_two_replicas_append_to_one_chain(redis_client: aredis.Redis) -> None:
    replicas = [RedisDecisionLog(redis_client), RedisDecisionLog(redis_client)]
    batches = [[record(r * 100 + i, user=f"u{r}") for i in range(20)] for r in range(2)]
    for _ in range(5):  # interleaved appends: each replica's head goes stale in turn
        await asyncio.gather(
            *(log.append(batch[:4]) for log, batch in zip(replicas, batches, strict=True))
        )
        batches = [batch[4:] for batch in batches]
    report = await replicas[0].verify()
    assert report.ok and report.checked == 40, report
    seqs = [r.seq for r in (await replicas[1].query(AuditFilter(), before=None, limit=100)).records]
    assert seqs == list(range(40, 0, -1))


async def test_retention_by_bytes_keeps_the_newest_and_the_chain_verifiable(
    make_log: Any,
) -> None:
    size = len(msgspec.json.encode(record(1))) + 200  # a sealed record, roughly
    log = make_log(max_bytes=65536)
    for start in range(0, 400, 50):
        await log.append([record(i) for i in range(start, start + 50)])
    kept = (await log.query(AuditFilter(), before=None, limit=500)).records
    assert 65536 // (size + 200) < len(kept) < 400
    assert kept[0].decision_id == "d-399"  # the newest stay
    assert await log.get("d-0") is None  # the oldest went, its id with it
    report = await log.verify()
    assert report.ok and report.checked == len(kept), report
    # The trim is reported as one: a checkpoint of the last record removed, signed.
    assert report.trimmed is not None and report.trimmed.reason == "bytes", report
    assert report.trimmed.seq == kept[-1].seq - 1 and report.trimmed.mac


async def test_retention_by_age_drops_what_is_older(make_log: Any) -> None:
    log = make_log(max_age_seconds=3600)
    old = datetime.now(UTC) - timedelta(hours=2)
    await log.append([record(1, at=old), record(2, at=old), record(3)])
    await log.append([record(4)])
    kept = (await log.query(AuditFilter(), before=None, limit=10)).records
    assert [r.decision_id for r in kept] == ["d-4", "d-3"]
    report = await log.verify()
    assert report.ok and report.trimmed is not None and report.trimmed.reason == "age", report


async def _rewrite(client: aredis.Redis, change: Any) -> None:
    """What someone with write access to Redis does: the stream rebuilt, one entry changed
    (stream entries cannot be edited in place), every id kept."""
    entries = await client.xrange(k.AUDIT_LOG)
    await client.delete(k.AUDIT_LOG)
    for entry_id, fields in entries:
        await client.xadd(k.AUDIT_LOG, change(entry_id, dict(fields)), id=entry_id)


async def test_verify_names_an_edited_record(redis_client: aredis.Redis) -> None:
    log = RedisDecisionLog(redis_client)
    await log.append([record(i, allowed=False) for i in range(1, 6)])

    def allow_the_third(entry_id: bytes, fields: dict[bytes, bytes]) -> dict[bytes, bytes]:
        if entry_id == b"0-3":
            doc = msgspec.json.decode(fields[b"r"])
            doc["allowed"] = True
            fields[b"r"] = msgspec.json.encode(doc)
        return fields

    await _rewrite(redis_client, allow_the_third)
    report = await log.verify()
    assert (report.ok, report.problem, report.seq, report.decision_id) == (
        False,
        "altered",
        3,
        "d-3",
    )


async def test_verify_names_an_edited_record_whose_hash_was_recomputed(
    redis_client: aredis.Redis,
) -> None:
    log = RedisDecisionLog(redis_client)
    await log.append([record(i) for i in range(1, 6)])

    def rehash_the_second(entry_id: bytes, fields: dict[bytes, bytes]) -> dict[bytes, bytes]:
        if entry_id == b"0-2":
            doc = msgspec.json.decode(fields[b"r"])
            doc["subject_id"] = "mallory"
            doc["hash"] = hash_of(doc)
            fields[b"r"] = msgspec.json.encode(doc)
        return fields

    await _rewrite(redis_client, rehash_the_second)
    report = await log.verify()
    assert (report.ok, report.problem, report.seq, report.decision_id) == (
        False,
        "altered",
        2,
        "d-2",
    )
    assert "record 3" in report.detail


@pytest.mark.parametrize("removed", [1, 3, 5])
async def test_verify_names_a_removed_record(redis_client: aredis.Redis, removed: int) -> None:
    log = RedisDecisionLog(redis_client)
    await log.append([record(i) for i in range(1, 6)])
    assert await redis_client.xdel(k.AUDIT_LOG, f"0-{removed}") == 1
    report = await log.verify()
    assert (report.ok, report.problem, report.seq) == (False, "removed", removed), report


async def test_verify_names_reordered_records(redis_client: aredis.Redis) -> None:
    log = RedisDecisionLog(redis_client)
    await log.append([record(i) for i in range(1, 5)])
    entries = dict(await redis_client.xrange(k.AUDIT_LOG))

    def swap_two_and_three(entry_id: bytes, fields: dict[bytes, bytes]) -> dict[bytes, bytes]:
        swapped = {b"0-2": b"0-3", b"0-3": b"0-2"}.get(entry_id)
        return dict(entries[swapped]) if swapped else fields

    await _rewrite(redis_client, swap_two_and_three)
    report = await log.verify()
    assert (report.ok, report.problem, report.seq, report.decision_id) == (
        False,
        "reordered",
        2,
        "d-3",
    )


async def test_an_export_verifies_on_its_own_and_a_gap_is_named() -> None:
    log = MemoryDecisionLog()
    sealed = await log.append([record(i) for i in range(1, 6)])
    lines = [msgspec.json.encode(r) for r in sealed]

    async def exported(kept: list[bytes]) -> AsyncIterator[tuple[int, bytes]]:
        for raw in kept:
            yield msgspec.json.decode(raw)["seq"], raw

    assert (await verify_chain(exported(lines))).ok
    report: ChainReport = await verify_chain(exported(lines[:2] + lines[3:]))
    assert (report.ok, report.problem, report.seq) == (False, "removed", 3), report
    subset = await verify_chain(exported(lines[:2] + lines[3:]), allow_gaps=True)
    assert subset.ok and subset.checked == 4


async def test_a_users_query_reads_that_users_records_only(redis_client: aredis.Redis) -> None:
    log = RedisDecisionLog(redis_client)
    await log.append([record(i, user="crowd") for i in range(500)])
    await log.append([record(1000 + i, user="bob") for i in range(3)])
    await log.append([record(2000 + i, user="crowd") for i in range(500)])
    await redis_client.config_resetstat()
    found = await log.query(AuditFilter(user_id="bob"), before=None, limit=100)
    assert len(found.records) == 3
    stats = await redis_client.info("commandstats")
    xrange_calls = stats.get("cmdstat_xrange", {}).get("calls", 0)
    scans = stats.get("cmdstat_xrevrange", {}).get("calls", 0)
    assert (xrange_calls, scans) == (3, 0)  # bob's three records, by index, nothing else


async def test_exports_read_in_chunks_and_through_the_index(redis_client: aredis.Redis) -> None:
    log = RedisDecisionLog(redis_client)
    await log.append([record(i, user="crowd") for i in range(450)])
    await log.append([record(1000 + i, user="bob") for i in range(3)])
    everything = [decode_record(raw).seq async for raw in log.export(AuditFilter())]
    assert everything == list(range(1, 454))  # three chunks, oldest first, nothing twice
    await redis_client.config_resetstat()
    bobs = [decode_record(raw).decision_id async for raw in log.export(AuditFilter(user_id="bob"))]
    assert bobs == ["d-1000", "d-1001", "d-1002"]
    stats = await redis_client.info("commandstats")
    assert stats["cmdstat_xrange"]["calls"] == 3  # one read per record of bob's, no scan


async def _trimmed_log(redis_client: aredis.Redis, signer: CheckpointSigner) -> RedisDecisionLog:
    log = RedisDecisionLog(redis_client, max_bytes=65536, signer=signer)
    for start in range(0, 200, 50):
        await log.append([record(i) for i in range(start, start + 50)])
    return log


async def test_a_gap_at_the_head_is_not_a_trim(redis_client: aredis.Redis) -> None:
    """Someone removes the oldest records kept and moves the floor past them, as retention
    would: without the checkpoint key the floor's signature does not hold."""
    log = await _trimmed_log(redis_client, SIGNER)
    assert (await log.verify()).ok
    entries = await redis_client.xrange(k.AUDIT_LOG, count=5)
    for entry_id, _ in entries:
        await redis_client.xdel(k.AUDIT_LOG, entry_id)
    last_id, last = entries[-1]
    await redis_client.hset(
        k.AUDIT_HEAD,
        mapping={"floor_seq": last_id.decode().split("-")[1], "floor_hash": last[b"h"]},
    )
    report = await log.verify()
    assert (report.ok, report.problem) == (False, "removed"), report
    assert "a gap, not a trim" in report.detail


async def test_without_a_key_a_trim_cannot_be_told_from_a_gap(redis_client: aredis.Redis) -> None:
    log = await _trimmed_log(redis_client, CheckpointSigner(None))
    report = await log.verify()
    assert (report.ok, report.problem) == (False, "unsigned"), report
    assert "GATEWAY_AUDIT_CHECKPOINT_KEY" in report.detail


async def test_a_deleted_index_is_named_by_verify_and_rebuilt(redis_client: aredis.Redis) -> None:
    """`DEL gw:{audit}:user:bob`: a query about bob came back empty and verify said ok."""
    log = RedisDecisionLog(redis_client, signer=SIGNER)
    await log.append([record(i, user="bob" if i % 2 else "alice") for i in range(1, 19)])
    await redis_client.delete(k.audit_index("user", "bob"))
    report = await log.verify()
    assert (report.ok, report.problem, report.seq, report.decision_id) == (
        False,
        "index",
        1,
        "d-1",
    ), report
    assert k.audit_index("user", "bob") in report.detail
    assert await log.reindex() == 18
    found = await log.query(AuditFilter(user_id="bob"), before=None, limit=100)
    assert len(found.records) == 9
    assert (await log.verify()).ok


async def test_a_deleted_decision_id_key_is_named_by_verify(redis_client: aredis.Redis) -> None:
    log = RedisDecisionLog(redis_client, signer=SIGNER)
    await log.append([record(i) for i in range(1, 4)])
    await redis_client.delete(k.audit_decision("d-2"))
    report = await log.verify()
    assert (report.ok, report.problem, report.decision_id) == (False, "index", "d-2"), report


async def test_a_failing_verify_closes_what_it_read() -> None:
    """The CLI printed `RuntimeError: aclose(): asynchronous generator is already running`
    on a failing verify: the walk returned with its source still suspended."""
    sealed = await MemoryDecisionLog().append([record(i) for i in range(1, 6)])
    lines = [msgspec.json.encode(r) for r in sealed]
    closed: list[bool] = []

    async def exported() -> AsyncIterator[tuple[int, bytes]]:
        try:
            for raw in lines[:2] + lines[3:]:
                yield msgspec.json.decode(raw)["seq"], raw
        finally:
            closed.append(True)

    report = await verify_chain(exported())
    assert (report.ok, report.problem) == (False, "removed")
    assert closed == [True]
