"""Idempotency keys (ADR-0042): the `IdempotencyStore` port and its in-memory adapter (one
process; `gateway/stores/redis/idempotency.py` is shared by every replica).

A key is claimed by one request for a short lease, while it runs; the response of a create
that succeeded replaces the claim and is kept for the TTL. A claim is taken, completed and
released only by the request holding its token, so a request that outlived its lease can
never overwrite the claim of the one that came after it.

Kept answers are bounded per subject (issue 22: create+delete cycles, each with a new key,
kept one answer per cycle for a day, without bound, around the server quota): at most
MAX_KEPT_PER_SUBJECT answers and MAX_KEPT_BYTES_PER_SUBJECT bytes of them; keeping one more
forgets the subject's oldest. A retry whose answer was forgotten runs again, as after the TTL
(the draft leaves expiry to the server; refusing new keys instead would fail a busy client's
creates, not just forget what it no longer retries). A body larger than MAX_KEPT_BODY_BYTES
is not kept at all: its replay answers the created resource as it is then."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol, runtime_checkable

import msgspec

# How long a claim holds a key while its request runs. A request cannot take this long
# (every backend call has a deadline of seconds); a crashed replica's claim frees itself.
LEASE_SECONDS = 60
# What one subject's kept answers may take, by count and by encoded bytes (a typical server's
# answer is 1-2 KB; the largest a body allows about 1 MiB, so bodies are bounded too).
MAX_KEPT_PER_SUBJECT = 256
MAX_KEPT_BYTES_PER_SUBJECT = 1024 * 1024
MAX_KEPT_BODY_BYTES = 64 * 1024


class StoredResponse(msgspec.Struct, kw_only=True, frozen=True):
    """A successful create, as it was answered: replayed byte for byte."""

    status_code: int
    # None: larger than MAX_KEPT_BODY_BYTES, not kept; the replay answers the created
    # resource as it is then (with its ETag then).
    body: bytes | None
    headers: dict[str, str]
    resource_id: str  # what the replay re-reads, so the policy decides the replay too


class KeyRecord(msgspec.Struct, kw_only=True, frozen=True):
    token: str  # the claiming request's
    fingerprint: str  # of the request that claimed it: another payload is a 422
    response: StoredResponse | None = None  # None: still in flight


_encode = msgspec.json.Encoder().encode


def kept_size(record: KeyRecord) -> int:
    """What a kept answer counts against its subject's bytes: its encoded size (as stored in
    Redis, where the same bound holds)."""
    return len(_encode(record))


@runtime_checkable  # Litestar checks the type of what the provider returns
class IdempotencyStore(Protocol):
    async def begin(
        self, subject_id: str, scope: str, fingerprint: str, token: str
    ) -> KeyRecord | None:
        """Claim the subject's `scope` (a digest of route and key) for this request (None),
        or return what holds it already."""
        ...

    async def complete(self, subject_id: str, scope: str, done: KeyRecord) -> bool:
        """Keep `done` (the claim with its response) for the TTL, if its token still holds
        the claim; forget the subject's oldest answers beyond the bounds."""
        ...

    async def release(self, subject_id: str, scope: str, token: str) -> None:
        """Free the key (the create failed: a retry runs, and is decided, again)."""
        ...


class KeptUsage(msgspec.Struct, kw_only=True, frozen=True):
    """One subject's kept answers (for operators and the bound's tests)."""

    count: int
    bytes: int


class _Kept:
    """One subject's kept answers, oldest first (kept for one TTL: also soonest to expire)."""

    __slots__ = ("answers", "bytes")

    def __init__(self) -> None:
        self.answers: OrderedDict[str, tuple[float, int, KeyRecord]] = OrderedDict()
        self.bytes = 0

    def forget_expired(self, now: float) -> None:
        while self.answers:
            scope, (expires, _, _) = next(iter(self.answers.items()))
            if expires > now:
                return
            self.forget(scope)

    def forget(self, scope: str) -> None:
        _, size, _ = self.answers.pop(scope)
        self.bytes -= size


class MemoryIdempotencyStore:
    # Expired claims are swept every this many claims, so memory stays bounded by the lease.
    SWEEP_EVERY = 1024

    def __init__(
        self,
        ttl_seconds: int,
        lease_seconds: float = LEASE_SECONDS,
        *,
        max_kept: int = MAX_KEPT_PER_SUBJECT,
        max_kept_bytes: int = MAX_KEPT_BYTES_PER_SUBJECT,
    ) -> None:
        self._ttl = ttl_seconds
        self._lease = lease_seconds
        self._max_kept = max_kept
        self._max_kept_bytes = max_kept_bytes
        self._claims: dict[tuple[str, str], tuple[float, KeyRecord]] = {}
        self._kept: dict[str, _Kept] = {}
        self._count = 0

    def _live_claim(self, key: tuple[str, str], now: float) -> KeyRecord | None:
        entry = self._claims.get(key)
        if entry is None or entry[0] <= now:
            return None
        return entry[1]

    def _kept_of(self, subject_id: str, now: float) -> _Kept | None:
        kept = self._kept.get(subject_id)
        if kept is not None:
            kept.forget_expired(now)
            if not kept.answers:
                del self._kept[subject_id]
                return None
        return kept

    async def begin(
        self, subject_id: str, scope: str, fingerprint: str, token: str
    ) -> KeyRecord | None:
        key, now = (subject_id, scope), time.monotonic()
        self._count += 1
        if self._count % self.SWEEP_EVERY == 0:
            self._claims = {k: e for k, e in self._claims.items() if e[0] > now}
            for subject in list(self._kept):
                self._kept_of(subject, now)
        kept = self._kept_of(subject_id, now)
        if kept is not None and scope in kept.answers:
            return kept.answers[scope][2]
        found = self._live_claim(key, now)
        if found is not None:
            return found
        self._claims[key] = (now + self._lease, KeyRecord(token=token, fingerprint=fingerprint))
        return None

    async def complete(self, subject_id: str, scope: str, done: KeyRecord) -> bool:
        key, now = (subject_id, scope), time.monotonic()
        found = self._live_claim(key, now)
        if found is None or found.token != done.token:
            return False
        del self._claims[key]
        kept = self._kept_of(subject_id, now) or self._kept.setdefault(subject_id, _Kept())
        if scope in kept.answers:  # (cannot be: a kept answer is returned, not claimed)
            kept.forget(scope)
        size = kept_size(done)
        kept.answers[scope] = (now + self._ttl, size, done)
        kept.bytes += size
        while len(kept.answers) > 1 and (
            len(kept.answers) > self._max_kept or kept.bytes > self._max_kept_bytes
        ):
            kept.forget(next(iter(kept.answers)))  # the oldest (never the one just kept)
        return True

    async def release(self, subject_id: str, scope: str, token: str) -> None:
        key = (subject_id, scope)
        found = self._live_claim(key, time.monotonic())
        if found is not None and found.token == token:
            del self._claims[key]

    async def usage(self, subject_id: str) -> KeptUsage:
        kept = self._kept_of(subject_id, time.monotonic())
        return KeptUsage(
            count=0 if kept is None else len(kept.answers),
            bytes=0 if kept is None else kept.bytes,
        )
