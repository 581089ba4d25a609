"""The Redis client and what every Redis store shares: short timeouts, failures translated
to BackendUnavailable (a 503, never a guess), and reply helpers."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

import msgspec
import redis.asyncio as aredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError

from gateway.errors import BackendUnavailable

P = ParamSpec("P")
R = TypeVar("R")

ENCODER = msgspec.json.Encoder()


def redis_client_from_url(url: str) -> aredis.Redis:
    """One client (and connection pool) per process, shared by every Redis store.

    Short timeouts and few retries: a down Redis must become a prompt 503, not a hung request.
    """
    return aredis.Redis.from_url(
        url,
        decode_responses=False,
        socket_timeout=2.0,
        socket_connect_timeout=2.0,
        health_check_interval=15,
        retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.2), retries=2),
    )


def translate_errors(
    fn: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Map Redis and socket failures to BackendUnavailable; Conflict/NotFound pass through."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except (RedisError, OSError) as exc:
            raise BackendUnavailable(f"redis unavailable: {exc}") from exc
        except msgspec.DecodeError as exc:
            raise BackendUnavailable(f"redis returned an undecodable value: {exc}") from exc

    return wrapper


def text(value: bytes | str) -> str:
    # The client is built with decode_responses=False, but redis-py types replies as either.
    return value.decode() if isinstance(value, bytes) else value


def as_int(value: bytes | str | None) -> int:
    return int(value) if value is not None else 0


def timestamp(value: datetime) -> str:
    # Exactly as the record stores it, for the compares in _REPLACE/_DELETE_SERVER.
    return ENCODER.encode(value).decode().strip('"')
