"""The Redis client and what every Redis store shares: short timeouts, failures translated
to BackendUnavailable (a 503, never a guess), and reply helpers."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime
from typing import Any, ParamSpec, TypeAlias, TypeVar

import msgspec
import redis.asyncio as aredis
from redis.asyncio.cluster import ClusterPipeline
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    ClusterDownError,
    MaxConnectionsError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT

from gateway.errors import BackendUnavailable
from gateway.observability.redis_pool import MeasuredBlockingConnectionPool

P = ParamSpec("P")
R = TypeVar("R")

ENCODER = msgspec.json.Encoder()

# What the stores talk to: one Redis, or a Redis Cluster (GATEWAY_REDIS_CLUSTER=true). Every
# key layout and script is the same for both (keys.py): each script, MULTI and multi-key
# command touches one hash slot.
RedisClient: TypeAlias = aredis.Redis | aredis.RedisCluster

# Every failure of a Redis call. RedisClusterException (e.g. "Redis Cluster cannot be
# connected", a slot not covered) is not a RedisError.
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, RedisClusterException, OSError)

# Connections per process (per node, on a cluster), and how long a request waits for one
# when all are busy before it is a 503: a burst queues instead of failing at once.
MAX_CONNECTIONS = 64
POOL_TIMEOUT_SECONDS = 2.0


def redis_client_from_url(
    url: str,
    *,
    cluster: bool = False,
    max_connections: int = MAX_CONNECTIONS,
    pool_timeout: float = POOL_TIMEOUT_SECONDS,
) -> RedisClient:
    """One client (and connection pool) per process, shared by every Redis store.

    Short timeouts and few retries: a down Redis must become a prompt 503, not a hung request.
    At most `max_connections` connections (per node on a cluster); a call finding them all
    busy waits up to `pool_timeout` seconds for one, then fails (ConnectionError "No
    connection available", a 503).
    """
    options: dict[str, Any] = {
        "decode_responses": False,
        "socket_timeout": 2.0,
        "socket_connect_timeout": 2.0,
        "health_check_interval": 15,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.2), retries=2),
    }
    if cluster:
        return _QueueingRedisCluster.from_url(
            url,
            max_connections=max_connections,
            queue=_ConnectionQueue(max_connections, pool_timeout),
            **options,
        )
    pool = MeasuredBlockingConnectionPool.from_url(  # counts waits for /metrics
        url, max_connections=max_connections, timeout=pool_timeout, **options
    )
    return aredis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes it


# Set while a task holds a place in a _ConnectionQueue: the cluster client calls itself
# (a pipeline re-sends a redirected command), and that call must not queue again.
_QUEUED = contextvars.ContextVar("gateway_redis_queued", default=False)


class _ConnectionQueue:
    """What BlockingConnectionPool does for one Redis, for a cluster client (whose per-node
    pools raise MaxConnectionsError at once when full): at most `size` calls in flight, each
    using at most one connection per node, so no node's pool of `size` ever runs out; a
    call waits up to `timeout` seconds for its turn."""

    def __init__(self, size: int, timeout: float) -> None:
        self._slots = asyncio.Semaphore(size)
        self._timeout = timeout

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if _QUEUED.get():
            yield
            return
        try:
            async with asyncio.timeout(self._timeout):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise RedisConnectionError("No connection available.") from exc
        token = _QUEUED.set(True)
        try:
            yield
        finally:
            _QUEUED.reset(token)
            self._slots.release()


class _QueueingRedisCluster(aredis.RedisCluster):
    """RedisCluster whose commands and pipelines wait their turn in a _ConnectionQueue."""

    def __init__(self, *, queue: _ConnectionQueue, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._gateway_queue = queue
        self._discovered = asyncio.Event()
        self._discovering = asyncio.Lock()

    async def discovered(self) -> None:
        """Learn the slot map before any command runs. redis-py 8.1 lets commands that
        arrive while the first one discovers the cluster connect concurrently with it, and
        some of those connections are torn down mid-handshake (AttributeError in
        send_packed_command): 20 concurrent first requests failed 1-19 of 20 here."""
        if self._discovered.is_set():
            return
        async with self._discovering:
            if not self._discovered.is_set():
                await self.initialize()
                self._discovered.set()

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        async with self._gateway_queue.turn():
            await self.discovered()
            return await super().execute_command(*args, **kwargs)

    async def aclose(self) -> None:
        await super().aclose()
        self._discovered.clear()

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> ClusterPipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # refused there
        # redis-py's stubs mark ClusterPipeline abstract (`_event_dispatcher`); it is not.
        return _QueueingClusterPipeline(self, transaction, self._gateway_queue)  # type: ignore[abstract]


class _QueueingClusterPipeline(ClusterPipeline):
    def __init__(
        self, client: _QueueingRedisCluster, transaction: bool | None, queue: _ConnectionQueue
    ) -> None:
        super().__init__(client, transaction)
        self._gateway_client = client
        self._gateway_queue = queue

    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        async with self._gateway_queue.turn():
            await self._gateway_client.discovered()
            return await super().execute(raise_on_error, allow_redirections)


# Why Redis failed, in words safe for an unauthenticated caller: from the exception's type
# only, never its text, which names the host and port ("Error 111 connecting to
# 10.0.0.5:6379"). The exception itself stays the BackendUnavailable's cause, for the log.
_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (MaxConnectionsError, "no connection free"),
    (BusyLoadingError, "loading its data"),
    (AuthenticationError, "authentication failed"),
    (RedisTimeoutError, "timed out"),
    (TimeoutError, "timed out"),
    (RedisConnectionError, "connection failed"),
    (ReadOnlyError, "read-only replica"),
    (OutOfMemoryError, "out of memory"),
    (ClusterDownError, "cluster down"),
    (RedisClusterException, "cluster unavailable"),
    (ResponseError, "error reply"),
    (OSError, "connection failed"),
)


def unavailable(exc: BaseException) -> BackendUnavailable:
    """The 503 for a failed Redis call: names Redis and why, never where it is."""
    if isinstance(exc, RedisConnectionError) and "No connection available" in str(exc):
        reason = "no connection free"  # the blocking pool's wait ran out (a burst)
    else:
        reason = next(
            (why for kind, why in _REASONS if isinstance(exc, kind)),
            f"failed ({type(exc).__name__})",
        )
    failure = BackendUnavailable(f"redis unavailable: {reason}")
    failure.__cause__ = exc
    return failure


def translate_errors(
    fn: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Map Redis and socket failures to BackendUnavailable; Conflict/NotFound pass through."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except REDIS_ERRORS as exc:
            raise unavailable(exc) from exc
        except msgspec.DecodeError as exc:
            raise BackendUnavailable("redis unavailable: a stored value did not decode") from exc

    return wrapper


def text(value: bytes | str) -> str:
    # The client is built with decode_responses=False, but redis-py types replies as either.
    return value.decode() if isinstance(value, bytes) else value


def as_int(value: bytes | str | None) -> int:
    return int(value) if value is not None else 0


def timestamp(value: datetime) -> str:
    # Exactly as the record stores it, for the compares in _REPLACE/_DELETE_SERVER.
    return ENCODER.encode(value).decode().strip('"')
