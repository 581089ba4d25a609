"""`IdempotencyStore` over Redis, shared by every replica, all in the subject's slot (hash tag
`{u:<subject>}`):

    gw:{u:<subject>}:idem:<scope>    a claim (msgspec-JSON `KeyRecord`), for the lease
    gw:{u:<subject>}:idem-kept       hash scope -> kept answer (`KeyRecord` with its response)
    gw:{u:<subject>}:idem-order      sorted set scope -> when it was kept (ms, Redis' clock)

A kept answer lives the TTL from when it was kept (the order's score; both keys expire a TTL
after the newest); keeping one more forgets the oldest beyond the subject's bounds (count and
bytes, stores/idempotency.py). Each step is one Lua script, so a claim is taken by exactly one
request, only the token holding it completes or releases it, and the bounds hold under
concurrent completes. (Before this layout a kept answer stayed in its claim's key, a TTL each:
such keys, still read by `begin`, expire on their own.)"""

from __future__ import annotations

import msgspec

from gateway.stores.idempotency import (
    LEASE_SECONDS,
    MAX_KEPT_BYTES_PER_SUBJECT,
    MAX_KEPT_PER_SUBJECT,
    KeptUsage,
    KeyRecord,
)
from gateway.stores.redis import keys as k
from gateway.stores.redis.client import ENCODER, RedisClient, translate_errors

_NOW_MS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# KEYS: claim, kept, order. ARGV: claim, lease ms, ttl ms, scope. The kept answer or the
# claim holding the key, or nil once claimed.
_BEGIN = (
    _NOW_MS
    + """
local kept_at = redis.call('ZSCORE', KEYS[3], ARGV[4])
if kept_at then
  local kept = redis.call('HGET', KEYS[2], ARGV[4])
  if kept and tonumber(kept_at) + tonumber(ARGV[3]) > now then return kept end
  redis.call('ZREM', KEYS[3], ARGV[4])
  redis.call('HDEL', KEYS[2], ARGV[4])
end
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""
)

# KEYS: claim, kept, order. ARGV: token, answer, ttl ms, scope, max kept, max bytes.
# 1 when the token held the claim (the answer is kept, the oldest beyond the bounds forgotten).
_COMPLETE = (
    _NOW_MS
    + """
local current = redis.call('GET', KEYS[1])
if not current or cjson.decode(current)['token'] ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
local ttl = tonumber(ARGV[3])
for _, scope in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now - ttl)) do
  redis.call('HDEL', KEYS[2], scope)
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - ttl)
redis.call('HSET', KEYS[2], ARGV[4], ARGV[2])
redis.call('ZADD', KEYS[3], now, ARGV[4])
local scopes = redis.call('ZRANGE', KEYS[3], 0, -1)
local count, bytes = #scopes, 0
for _, scope in ipairs(scopes) do bytes = bytes + redis.call('HSTRLEN', KEYS[2], scope) end
for _, scope in ipairs(scopes) do
  if count <= tonumber(ARGV[5]) and bytes <= tonumber(ARGV[6]) then break end
  if scope ~= ARGV[4] then
    bytes = bytes - redis.call('HSTRLEN', KEYS[2], scope)
    count = count - 1
    redis.call('HDEL', KEYS[2], scope)
    redis.call('ZREM', KEYS[3], scope)
  end
end
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PEXPIRE', KEYS[3], ttl)
return 1
"""
)

# KEYS: claim. ARGV: token. Deletes the claim if the token holds it.
_RELEASE = """
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current)['token'] == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: kept, order. ARGV: ttl ms. {count, bytes} of the live kept answers.
_USAGE = (
    _NOW_MS
    + """
local count, bytes = 0, 0
for _, scope in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], now - tonumber(ARGV[1]), '+inf')) do
  count = count + 1
  bytes = bytes + redis.call('HSTRLEN', KEYS[1], scope)
end
return {count, bytes}
"""
)

_DECODER = msgspec.json.Decoder(KeyRecord)


def idempotency_key(subject_id: str, scope: str) -> str:
    """A claim's key (and, before the kept answers moved to `kept_keys`, a kept answer's)."""
    return f"{k.user_tag(subject_id)}:idem:{scope}"


def kept_keys(subject_id: str) -> tuple[str, str]:
    """The subject's kept answers (hash) and their order (sorted set)."""
    tag = k.user_tag(subject_id)
    return f"{tag}:idem-kept", f"{tag}:idem-order"


class RedisIdempotencyStore:
    def __init__(
        self,
        client: RedisClient,
        ttl_seconds: int,
        lease_seconds: float = LEASE_SECONDS,
        *,
        max_kept: int = MAX_KEPT_PER_SUBJECT,
        max_kept_bytes: int = MAX_KEPT_BYTES_PER_SUBJECT,
    ) -> None:
        self._ttl_ms = int(ttl_seconds * 1000)
        self._lease_ms = int(lease_seconds * 1000)
        self._max_kept = max_kept
        self._max_kept_bytes = max_kept_bytes
        self._begin = client.register_script(_BEGIN)
        self._complete = client.register_script(_COMPLETE)
        self._release = client.register_script(_RELEASE)
        self._usage = client.register_script(_USAGE)

    def _keys(self, subject_id: str, scope: str) -> list[str]:
        return [idempotency_key(subject_id, scope), *kept_keys(subject_id)]

    @translate_errors
    async def begin(
        self, subject_id: str, scope: str, fingerprint: str, token: str
    ) -> KeyRecord | None:
        claim = ENCODER.encode(KeyRecord(token=token, fingerprint=fingerprint))
        found = await self._begin(
            keys=self._keys(subject_id, scope),
            args=[claim, self._lease_ms, self._ttl_ms, scope],
        )
        return None if found is None else _DECODER.decode(found)

    @translate_errors
    async def complete(self, subject_id: str, scope: str, done: KeyRecord) -> bool:
        kept = await self._complete(
            keys=self._keys(subject_id, scope),
            args=[
                done.token,
                ENCODER.encode(done),
                self._ttl_ms,
                scope,
                self._max_kept,
                self._max_kept_bytes,
            ],
        )
        return bool(kept)

    @translate_errors
    async def release(self, subject_id: str, scope: str, token: str) -> None:
        await self._release(keys=[idempotency_key(subject_id, scope)], args=[token])

    @translate_errors
    async def usage(self, subject_id: str) -> KeptUsage:
        count, size = await self._usage(keys=list(kept_keys(subject_id)), args=[self._ttl_ms])
        return KeptUsage(count=int(count), bytes=int(size))
