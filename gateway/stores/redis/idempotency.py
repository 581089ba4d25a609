"""`IdempotencyStore` over Redis, shared by every replica: one key per subject and scope,
`gw:{u:<subject>}:idem:<scope>` (under the subject's hash tag), holding a msgspec-JSON
`KeyRecord` that expires with the lease or the TTL. Each step is one Lua script, so a claim
is taken by exactly one request, and only the token holding it completes or releases it."""

from __future__ import annotations

import msgspec

from gateway.stores.idempotency import LEASE_SECONDS, KeyRecord
from gateway.stores.redis import keys as k
from gateway.stores.redis.client import ENCODER, RedisClient, translate_errors

# KEYS: key. ARGV: claim, lease ms. The record holding the key, or nil once claimed.
_BEGIN = """
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""

# KEYS: key. ARGV: token, value ('' deletes), ttl ms. 1 when the token held the claim.
_SWAP_IF_HELD = """
local current = redis.call('GET', KEYS[1])
if not current or cjson.decode(current)['token'] ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
"""

_DECODER = msgspec.json.Decoder(KeyRecord)


def idempotency_key(subject_id: str, scope: str) -> str:
    return f"{k.user_tag(subject_id)}:idem:{scope}"


class RedisIdempotencyStore:
    def __init__(
        self, client: RedisClient, ttl_seconds: int, lease_seconds: float = LEASE_SECONDS
    ) -> None:
        self._ttl_ms = int(ttl_seconds * 1000)
        self._lease_ms = int(lease_seconds * 1000)
        self._begin = client.register_script(_BEGIN)
        self._swap = client.register_script(_SWAP_IF_HELD)

    @translate_errors
    async def begin(
        self, subject_id: str, scope: str, fingerprint: str, token: str
    ) -> KeyRecord | None:
        claim = ENCODER.encode(KeyRecord(token=token, fingerprint=fingerprint))
        found = await self._begin(
            keys=[idempotency_key(subject_id, scope)], args=[claim, self._lease_ms]
        )
        return None if found is None else _DECODER.decode(found)

    @translate_errors
    async def complete(self, subject_id: str, scope: str, done: KeyRecord) -> bool:
        swapped = await self._swap(
            keys=[idempotency_key(subject_id, scope)],
            args=[done.token, ENCODER.encode(done), self._ttl_ms],
        )
        return bool(swapped)

    @translate_errors
    async def release(self, subject_id: str, scope: str, token: str) -> None:
        await self._swap(keys=[idempotency_key(subject_id, scope)], args=[token, "", 0])
