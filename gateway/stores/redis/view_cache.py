"""The merged-view cache in Redis: never stale, invalidated in O(1) by generation counters.

A cached view lives at `gw:{u:<user>}:view` as `{stamp, items}` (msgspec JSON, with a TTL so
memory stays bounded). The *stamp* hashes everything the view depends on:

- the policy revision (a new policy may scope views differently);
- the `ViewScope` the policy gave for this request (unscoped flag, user ids, enterprise ids),
  which already encodes the subject's memberships: joining or leaving an enterprise changes
  the scope, hence the stamp;
- the generation of every user and enterprise in the scope. The stores INCR
  `gw:{u:<user>}:gen` / `gw:{e:<ent>}:gen` in the same Lua script as every write (creating,
  replacing — e.g. toggling `auto_enabled` — or deleting a server), so a write moves the
  stamp of every view it feeds without enumerating anyone: the invalidation *is* that INCR.

Read path: one non-transactional pipeline GETs every generation and the cached entry (the
keys span hash slots, so no MULTI; a cluster client may split the pipeline per node). The
entry is served only if its stored stamp equals the stamp computed from those generations.

Why a miss may store what it computed: the stamp comes from generations read *before*
`compute()` reads the stores. Each generation moves atomically with its data, so the data
read afterwards is at least as new as the stamp says. A write landing between the two reads
leaves an entry whose data is *newer* than its stamp; every later reader sees the bumped
generation, computes another stamp and misses. The reverse — a stamp newer than the data —
would serve stale views, which is why the generations are never re-read after computing.

In-process copy: the last snapshot of each user's view (gateway/stores/snapshots.py) is kept
with its stamp, bounded by count and bytes (least recently used out first). A lookup whose
stamp, computed from generations just read, equals the copy's is served the copy: exact for
the same reason the Redis entry is, and neither decoded nor re-encoded — the pages made from
it are sent as bytes. The generations are still read on every request (one round trip, or
none of its own when the request's subject read read them ahead), so a write through any
replica is seen by the next read on every replica.

Failure: any Redis or decode error logs a warning (no values, no credentials) and the view
is computed from the stores; the cache never answers with a view it cannot vouch for.
Unscoped views (auth disabled, local dev) are not cached.

Operations: the generation keys carry no TTL and must never be evicted (a counter reset could
make an old stamp current again). Run Redis with `maxmemory-policy noeviction` or a
`volatile-*` policy — cache entries carry a TTL, so `volatile-lru` evicts only them.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

import msgspec

from gateway.audit import scope as request_scope
from gateway.domain.decisions import ViewScope
from gateway.domain.servers import EnterpriseMCPServer, MCPServerConfig
from gateway.observability.metrics import (
    VIEW_CACHE_BYPASS,
    VIEW_CACHE_ERROR,
    VIEW_CACHE_HIT,
    VIEW_CACHE_LOCAL_BYTES,
    VIEW_CACHE_LOCAL_USERS,
    VIEW_CACHE_MISS,
)
from gateway.stores.base import ViewLoader
from gateway.stores.redis import keys as k
from gateway.stores.redis.client import REDIS_ERRORS, RedisClient
from gateway.stores.snapshots import ViewSnapshot

__all__ = ["RedisMergedViewCache", "view_key"]

log = logging.getLogger(__name__)

# Bump when the entry's layout or the stamp's inputs change: old entries then simply miss.
_FORMAT = "view-v1"
_WARN_EVERY_S = 10.0
_READ_ERRORS: tuple[type[BaseException], ...] = (*REDIS_ERRORS, ValueError)


class _Entry(msgspec.Struct, kw_only=True):
    stamp: str
    items: list[MCPServerConfig | EnterpriseMCPServer]


class _StampInput(msgspec.Struct, array_like=True):
    format: str
    revision: str
    unscoped: bool
    auto_enabled_only: bool
    users: list[tuple[str, int]]
    enterprises: list[tuple[str, int]]


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(_Entry)


class _NotRead:
    """The entry was not read ahead (the subject read left it out)."""


_NOT_READ = _NotRead()


def view_key(user_id: str) -> str:
    """The user's cached view, under the user's hash tag (next to its generation)."""
    return k.user_view(user_id)


def _generation(raw: bytes | str | None) -> int:
    return int(raw) if raw is not None else 0


def _stamp(revision: str, scope: ViewScope, gens: Sequence[bytes | str | None]) -> str:
    """`gens`: the users' generations, then the enterprises', in scope order."""
    n = len(scope.user_ids)
    users = [(u, _generation(g)) for u, g in zip(scope.user_ids, gens[:n], strict=True)]
    ents = [(e, _generation(g)) for e, g in zip(scope.enterprise_ids, gens[n:], strict=True)]
    doc = _StampInput(_FORMAT, revision, scope.unscoped, scope.auto_enabled_only, users, ents)
    return hashlib.blake2b(_ENCODER.encode(doc), digest_size=16).hexdigest()


class RedisMergedViewCache:
    """`ViewCache` over Redis. `revision` is the policy revision, or a callable returning the
    current one (so a policy reload changes every stamp). `hits`/`misses`/`errors`/`bypasses`
    are plain counters for /metrics."""

    def __init__(
        self,
        client: RedisClient,
        revision: Callable[[], str] | str,
        ttl_seconds: int = 3600,
        *,
        local_entries: int = 1024,
        local_bytes: int = 32 * 2**20,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._redis = client
        if isinstance(revision, str):
            fixed = revision
            self._revision: Callable[[], str] = lambda: fixed
        else:
            self._revision = revision
        self._ttl = ttl_seconds
        self.hits = 0
        self.misses = 0
        self.read_ahead = 0  # lookups that needed no round trip of their own
        self.errors = 0
        self.bypasses = 0
        self._last_warning = -_WARN_EVERY_S
        self._suppressed = 0
        # user id -> (stamp, snapshot, its weight: the encoded entry's size)
        self._local: OrderedDict[str, tuple[str, ViewSnapshot, int]] = OrderedDict()
        # user id -> what the copy's stamp was hashed from: equal inputs, equal stamp, so a
        # warm read compares them instead of hashing again.
        self._stamped: dict[str, tuple[object, ...]] = {}
        # user id -> the generation keys and values the copy was last found current with:
        # while they hold, the subject read leaves the Redis entry out (`held`).
        self._held: dict[str, list[tuple[str, bytes | None]]] = {}
        self.entry_reads = 0  # entries read after the subject read had left them out
        self._local_entries = local_entries
        self._local_bytes = local_bytes
        self.local_weight = 0
        self.local_hits = 0

    async def get_or_compute(
        self, user_id: str, scope: ViewScope, compute: ViewLoader
    ) -> ViewSnapshot:
        if scope.unscoped:
            # Every user's servers: no generation covers "a user appeared"; local dev only.
            self.bypasses += 1
            VIEW_CACHE_BYPASS.inc()
            return ViewSnapshot(await compute())
        try:
            stamp, cached, held = await self._lookup(user_id, scope)
        except _READ_ERRORS as exc:
            self._failed("read", exc)
            return ViewSnapshot(await compute())
        if cached is not None:
            self.hits += 1
            VIEW_CACHE_HIT.inc()
            return cached
        self.misses += 1
        VIEW_CACHE_MISS.inc()
        items = await compute()
        encoded = _ENCODER.encode(_Entry(stamp=stamp, items=items))
        snapshot = self._keep(user_id, stamp, ViewSnapshot(items), len(encoded), held)
        try:
            await self._redis.set(view_key(user_id), encoded, ex=self._ttl)
        except REDIS_ERRORS as exc:
            self._failed("write", exc)
        return snapshot

    def held(self, user_id: str) -> list[tuple[str, bytes | None]] | None:
        """The generations (keys, values) this process's copy of the user's view was last
        found current with, or None without a copy. The subject read
        (gateway/stores/redis/subject_reads.py) does not send the Redis entry while they
        all still hold: the copy is then what the entry would have been checked against."""
        return self._held.get(user_id)

    def _keep(
        self,
        user_id: str,
        stamp: str,
        snapshot: ViewSnapshot,
        weight: int,
        held: list[tuple[str, bytes | None]],
    ) -> ViewSnapshot:
        """The in-process copy of the user's view, within the bounds; `held`: the
        generations its stamp was computed from."""
        old = self._local.pop(user_id, None)
        self._stamped.pop(user_id, None)
        self._held.pop(user_id, None)
        if old is not None:
            self.local_weight -= old[2]
        if weight <= self._local_bytes:
            self._local[user_id] = (stamp, snapshot, weight)
            self._held[user_id] = held
            self.local_weight += weight
        while self._local and (
            len(self._local) > self._local_entries or self.local_weight > self._local_bytes
        ):
            user, (_stamp, _snapshot, dropped) = self._local.popitem(last=False)
            self._stamped.pop(user, None)
            self._held.pop(user, None)
            self.local_weight -= dropped
        VIEW_CACHE_LOCAL_USERS.set(len(self._local))
        VIEW_CACHE_LOCAL_BYTES.set(self.local_weight)
        return snapshot

    async def _lookup(
        self, user_id: str, scope: ViewScope
    ) -> tuple[str, ViewSnapshot | None, list[tuple[str, bytes | None]]]:
        """The stamp from the current generations, the view if it carries that stamp (the
        in-process copy, else the Redis entry), and those generations by key."""
        gen_keys = [k.user_generation(u) for u in scope.user_ids]
        gen_keys += [k.enterprise_generation(e) for e in scope.enterprise_ids]
        key = view_key(user_id)
        # Read ahead by this request's identity step (gateway/audit/scope.py): the
        # generations, and the entry unless the copy here was current when it looked. The
        # entry is valid if its stamp matches generations read with or after it (they only
        # grow), whichever came first here.
        gens_ahead = request_scope.recall(gen_keys)
        raw: bytes | _NotRead | None
        if gens_ahead is not None:
            self.read_ahead += 1
            gens = gens_ahead
            entry_ahead = request_scope.recall([key])
            raw = entry_ahead[0] if entry_ahead is not None else _NOT_READ
        else:
            async with self._redis.pipeline(transaction=False) as pipe:
                for gen_key in gen_keys:
                    pipe.get(gen_key)
                pipe.get(key)
                replies: list[bytes | None] = await pipe.execute()
            raw, gens = replies[-1], replies[:-1]
        revision = self._revision()
        # What the stamp hashes (not the scope's decision id, new on every request).
        inputs = (
            revision,
            scope.unscoped,
            scope.auto_enabled_only,
            scope.user_ids,
            scope.enterprise_ids,
            *gens,
        )
        local = self._local.get(user_id)
        if local is not None and self._stamped.get(user_id) == inputs:
            self._local.move_to_end(user_id)
            self.local_hits += 1
            return local[0], local[1], self._held[user_id]
        stamp = _stamp(revision, scope, gens)
        held = list(zip(gen_keys, gens, strict=True))
        if local is not None and local[0] == stamp:
            self._local.move_to_end(user_id)
            self._stamped[user_id] = inputs
            self._held[user_id] = held
            self.local_hits += 1
            return stamp, local[1], held
        if isinstance(raw, _NotRead):
            # Left out because the copy was current then: it is not now (a new policy, a
            # changed scope) or is gone; read after the generations, as a pipeline would.
            self.entry_reads += 1
            read = await self._redis.get(key)
            raw = read.encode() if isinstance(read, str) else read
        if raw is None:
            return stamp, None, held
        try:
            entry = _DECODER.decode(raw)
        except msgspec.DecodeError as exc:
            # A corrupt or foreign value: recompute and overwrite it.
            self._failed("decode", exc)
            return stamp, None, held
        if entry.stamp != stamp:
            return stamp, None, held
        return stamp, self._keep(user_id, stamp, ViewSnapshot(entry.items), len(raw), held), held

    def _failed(self, what: str, exc: BaseException) -> None:
        """Count, and warn at most every few seconds so an outage does not flood the log."""
        self.errors += 1
        VIEW_CACHE_ERROR.inc()
        now = time.monotonic()
        if now - self._last_warning < _WARN_EVERY_S:
            self._suppressed += 1
            return
        log.warning(
            "merged-view cache %s failed (%s: %.200s); computing the view from the stores "
            "(%d similar warnings suppressed)",
            what,
            type(exc).__name__,
            exc,
            self._suppressed,
        )
        self._last_warning = now
        self._suppressed = 0
