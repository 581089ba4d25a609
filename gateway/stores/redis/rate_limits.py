"""`RateLimiter` over Redis: one counter per subject and window under the subject's hash tag,
INCR and a first-time EXPIRE in one round trip, shared by every replica."""

from __future__ import annotations

import time

from gateway.stores.rate_limits import over_limit, window_of
from gateway.stores.redis import keys as k
from gateway.stores.redis.client import RedisClient, translate_errors


class RedisRateLimiter:
    def __init__(self, client: RedisClient, limit: int, window_seconds: int) -> None:
        self._redis = client
        self._limit = limit
        self._window = window_seconds

    @translate_errors
    async def hit(self, subject_id: str) -> None:
        index, left = window_of(time.time(), self._window)
        key = k.rate_window(subject_id, index)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            # NX: set once per window; a window's key outlives it by a little, for clock skew.
            pipe.expire(key, self._window + 5, nx=True)
            count, _ = await pipe.execute()
        over_limit(subject_id, int(count), self._limit, left)
