"""A BlockingConnectionPool that counts its waits: a request finding every connection busy
queues (up to GATEWAY_REDIS_POOL_TIMEOUT_SECONDS) and then is a 503. How often that happens
and for how long says whether GATEWAY_REDIS_MAX_CONNECTIONS is too small. The common case,
a free connection, pays one extra check and nothing else. It also counts every connection
taken: the Redis round trips (gateway_redis_round_trips_total)."""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aredis
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.observability.metrics import POOL_TIMEOUTS, POOL_WAIT_SECONDS, POOL_WAITS, ROUND_TRIPS


class MeasuredBlockingConnectionPool(aredis.BlockingConnectionPool):
    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        ROUND_TRIPS.inc()  # each command, pipeline or script takes one connection
        if self.can_get_connection():
            return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        POOL_WAITS.inc()
        started = time.perf_counter()
        try:
            return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        except RedisConnectionError as exc:
            if "No connection available" in str(exc):  # the wait ran out, not a connect
                POOL_TIMEOUTS.inc()
            raise
        finally:
            POOL_WAIT_SECONDS.observe(time.perf_counter() - started)
