"""Requests per subject per fixed window: the `RateLimiter` port and its in-memory adapter
(one process; `gateway/stores/redis/rate_limits.py` counts across every replica).

A resource limit like the admission limit, not an authorization decision: it bounds how much
of the gateway one subject can use, whatever the policy lets them do. Fixed windows: at most
twice the limit across a window boundary, one counter per subject and window."""

from __future__ import annotations

import math
import time
from typing import Protocol

from gateway.errors import RateLimited


class RateLimiter(Protocol):
    async def hit(self, subject_id: str) -> None:
        """Count one request; RateLimited (429, with the seconds to wait) beyond the limit."""
        ...


def window_of(now: float, window_seconds: int) -> tuple[int, float]:
    """The window's index and the seconds left in it."""
    index = int(now // window_seconds)
    return index, (index + 1) * window_seconds - now


def over_limit(subject_id: str, count: int, limit: int, seconds_left: float) -> None:
    if count > limit:
        raise RateLimited(
            f"rate limit: more than {limit} requests in the window; retry later",
            retry_after=max(1, math.ceil(seconds_left)),
        )


class MemoryRateLimiter:
    def __init__(self, limit: int, window_seconds: int) -> None:
        self._limit = limit
        self._window = window_seconds
        self._index = -1
        self._counts: dict[str, int] = {}

    async def hit(self, subject_id: str) -> None:
        index, left = window_of(time.time(), self._window)
        if index != self._index:  # a new window: every count starts again
            self._index, self._counts = index, {}
        count = self._counts.get(subject_id, 0) + 1
        self._counts[subject_id] = count
        over_limit(subject_id, count, self._limit, left)
