"""The hot path: `GET /v1/mcp-servers?limit=500` as the measured user, the whole merged view
in one page (35 servers at 1x, 15 KB), no body; auth, policy, Redis stores and the decision
log as on every gateway row (scenarios/__init__.py), rate limit counted, never reached.

- warm (`view_warm`): the Redis view cache is current, so (nearly) every request is a hit.
- cold (`view_cold`): a thread INCRs the user's generation counter (`gw:{u:bench}:gen`, what
  every write to one of the user's personal servers does in the store's Lua script) every
  0.5 ms from the warm-up on, so every request finds a stale stamp, recomputes the view from
  the stores and rewrites the cache.

Both report `view_cache_miss_share`: the writes of the user's view key (Redis keyspace
notifications, `notify-keyspace-events K$` switched on for the row) per request; ~0 warm,
~1 cold.
"""

from __future__ import annotations

import threading
from typing import Any

from bench.harness.endpoint import Endpoint
from bench.harness.tenant import USER, VIEW_PATH

BUMP_PERIOD_S = 0.0005


def _view(temperature: str, note: str) -> Endpoint:
    return Endpoint(
        f"view_{temperature}",
        f"GET /v1/mcp-servers ({temperature})",
        "GET",
        VIEW_PATH,
        watch=lambda redis_url: CacheWatch(redis_url, cold=temperature == "cold"),
        note=note,
    )


WARM = _view("warm", "merged view, Redis view cache hit on (nearly) every request")
COLD = _view(
    "cold", "merged view, every request misses: the user's generation is INCR'd every 0.5 ms"
)


class GenerationBumper:
    """INCRs the user's generation every BUMP_PERIOD_S (the effect of a personal-server write):
    every merged-view request that reads the generations after it misses the cache."""

    def __init__(self, redis_url: str, user: str) -> None:
        import redis

        self._client = redis.Redis.from_url(redis_url)
        self._key = f"gw:{{u:{user}}}:gen"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.bumps = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self._client.incr(self._key)
            self.bumps += 1
            self._stop.wait(BUMP_PERIOD_S)

    def __enter__(self) -> GenerationBumper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._client.close()


class ViewWrites:
    """Counts writes of the user's cached view (`set` keyspace events on `gw:{u:<user>}:view`):
    one per cache miss. Keyspace notifications for string commands are on while it runs."""

    def __init__(self, redis_url: str, user: str) -> None:
        import redis

        self._client = redis.Redis.from_url(redis_url)
        self._previous = self._client.config_get("notify-keyspace-events")["notify-keyspace-events"]
        self._client.config_set("notify-keyspace-events", "K$")
        self.count = 0
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(**{f"__keyspace@0__:gw:{{u:{user}}}:view": self.on_message})
        self._thread = self._pubsub.run_in_thread(sleep_time=0.05, daemon=True)

    def on_message(self, message: dict[str, Any]) -> None:
        if message.get("data") in (b"set", "set"):
            self.count += 1

    def close(self) -> None:
        self._thread.stop()
        self._thread.join(timeout=2)
        self._pubsub.close()
        self._client.config_set("notify-keyspace-events", self._previous)
        self._client.close()


class CacheWatch:
    """Around a merged-view row: the view cache's writes (one per miss) and their share of the
    requests; for the cold row, the GenerationBumper running from the warm-up on."""

    def __init__(self, redis_url: str, cold: bool) -> None:
        self._redis_url = redis_url
        self._bumper = GenerationBumper(redis_url, USER) if cold else None
        self._views: ViewWrites | None = None
        self._writes_before = self._bumps_before = 0

    def __enter__(self) -> CacheWatch:
        self._views = ViewWrites(self._redis_url, USER)
        if self._bumper:
            self._bumper.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bumper:
            self._bumper.__exit__(None, None, None)
        if self._views:
            self._views.close()

    def mark(self) -> None:
        assert self._views
        self._writes_before = self._views.count
        self._bumps_before = self._bumper.bumps if self._bumper else 0

    def record(self, row: dict[str, Any], requests: int) -> str:
        assert self._views
        writes = self._views.count - self._writes_before
        row["view_cache_writes"] = writes
        row["view_cache_miss_share"] = round(writes / max(1, requests), 3)
        if self._bumper:
            row["generation_bumps"] = self._bumper.bumps - self._bumps_before
        return f", miss share {row['view_cache_miss_share']}"
