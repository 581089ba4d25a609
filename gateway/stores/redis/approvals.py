"""`ApprovalStore` over Redis: each approval a key of its own (expiring an hour after the
approval does), the id of an exact call's newest approval under the call's binding, and a
sorted set of ids by creation for the list (trimmed of what has expired on each create)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import msgspec

from gateway.domain.approvals import MAX_TTL_SECONDS, Approval
from gateway.stores.approvals import KEPT_AFTER_EXPIRY, RECENT
from gateway.stores.redis import keys as k
from gateway.stores.redis.client import RedisClient, text, translate_errors

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Approval).decode

# KEYS: the approval. ARGV: expected value, new value. 1 if replaced, 0 if moved or gone.
_REPLACE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
"""


class RedisApprovalStore:
    def __init__(self, client: RedisClient) -> None:
        self._redis = client
        self._replace = client.register_script(_REPLACE)

    @translate_errors
    async def create(self, approval: Approval) -> None:
        kept_until = approval.expires_at + KEPT_AFTER_EXPIRY
        ms = max(1, int((kept_until - datetime.now(UTC)).total_seconds() * 1000))
        oldest = (time.time() - MAX_TTL_SECONDS - KEPT_AFTER_EXPIRY.total_seconds()) * 1000
        # The record before the pointers to it: a pointer never names what is not there.
        await self._redis.set(k.approval(approval.id), _encode(approval), px=ms)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(k.approval_binding(approval.binding), approval.id, px=ms)
            pipe.zadd(k.APPROVALS, {approval.id: approval.created_at.timestamp() * 1000})
            pipe.zremrangebyscore(k.APPROVALS, "-inf", oldest)
            await pipe.execute()

    @translate_errors
    async def get(self, approval_id: str) -> Approval | None:
        value = await self._redis.get(k.approval(approval_id))
        return _decode(value) if value is not None else None

    @translate_errors
    async def for_binding(self, binding: str) -> Approval | None:
        found = await self._redis.get(k.approval_binding(binding))
        return await self.get(text(found)) if found is not None else None

    @translate_errors
    async def recent(self, limit: int = RECENT) -> list[Approval]:
        found = await self._redis.zrevrange(k.APPROVALS, 0, limit - 1)
        ids = [text(i) for i in found if isinstance(i, bytes | str)]
        if not ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for approval_id in ids:
                pipe.get(k.approval(approval_id))
            values = await pipe.execute()
        return [_decode(v) for v in values if v is not None]

    @translate_errors
    async def replace(self, expected: Approval, new: Approval) -> bool:
        replaced = await self._replace(
            keys=[k.approval(expected.id)], args=[_encode(expected), _encode(new)]
        )
        return bool(int(replaced))
