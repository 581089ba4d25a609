"""Idempotency keys (ADR-0042): the `IdempotencyStore` port and its in-memory adapter (one
process; `gateway/stores/redis/idempotency.py` is shared by every replica).

A key is claimed by one request for a short lease, while it runs; the response of a create
that succeeded replaces the claim and is kept for the TTL. A claim is taken, completed and
released only by the request holding its token, so a request that outlived its lease can
never overwrite the claim of the one that came after it."""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

import msgspec

# How long a claim holds a key while its request runs. A request cannot take this long
# (every backend call has a deadline of seconds); a crashed replica's claim frees itself.
LEASE_SECONDS = 60


class StoredResponse(msgspec.Struct, kw_only=True, frozen=True):
    """A successful create, as it was answered: replayed byte for byte."""

    status_code: int
    body: bytes
    headers: dict[str, str]
    resource_id: str  # what the replay re-reads, so the policy decides the replay too


class KeyRecord(msgspec.Struct, kw_only=True, frozen=True):
    token: str  # the claiming request's
    fingerprint: str  # of the request that claimed it: another payload is a 422
    response: StoredResponse | None = None  # None: still in flight


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
        the claim."""
        ...

    async def release(self, subject_id: str, scope: str, token: str) -> None:
        """Free the key (the create failed: a retry runs, and is decided, again)."""
        ...


class MemoryIdempotencyStore:
    # Expired entries are swept every this many claims, so memory stays bounded by the TTL.
    SWEEP_EVERY = 1024

    def __init__(self, ttl_seconds: int, lease_seconds: float = LEASE_SECONDS) -> None:
        self._ttl = ttl_seconds
        self._lease = lease_seconds
        self._entries: dict[tuple[str, str], tuple[float, KeyRecord]] = {}
        self._claims = 0

    def _live(self, scope: tuple[str, str], now: float) -> KeyRecord | None:
        entry = self._entries.get(scope)
        if entry is None or entry[0] <= now:
            return None
        return entry[1]

    async def begin(
        self, subject_id: str, scope: str, fingerprint: str, token: str
    ) -> KeyRecord | None:
        key, now = (subject_id, scope), time.monotonic()
        self._claims += 1
        if self._claims % self.SWEEP_EVERY == 0:
            self._entries = {s: e for s, e in self._entries.items() if e[0] > now}
        found = self._live(key, now)
        if found is not None:
            return found
        self._entries[key] = (now + self._lease, KeyRecord(token=token, fingerprint=fingerprint))
        return None

    async def complete(self, subject_id: str, scope: str, done: KeyRecord) -> bool:
        key, now = (subject_id, scope), time.monotonic()
        found = self._live(key, now)
        if found is None or found.token != done.token:
            return False
        self._entries[key] = (now + self._ttl, done)
        return True

    async def release(self, subject_id: str, scope: str, token: str) -> None:
        key = (subject_id, scope)
        found = self._live(key, time.monotonic())
        if found is not None and found.token == token:
            del self._entries[key]
