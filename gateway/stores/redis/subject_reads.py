"""What every authenticated request reads about its subject, in one round trip to one Redis:
the request counted against the subject's rate limit, its membership hints, each hinted
enterprise's member entry, record, deletion mark and generation, and (reading ahead for the
merged-view cache) the user's generation and cached view — one Lua script.

Only on a single Redis: the script reaches the enterprises' keys from the hints it reads, which
Redis Cluster refuses (they live in other slots). A cluster keeps `CountThenRead`: the count,
then the enterprise store's two pipelines (gateway/stores/subject_reads.py). The answer is
the same either way; tests/integration/test_subject_reads.py holds the two side by side."""

from __future__ import annotations

import time
from typing import Any, cast

from redis.exceptions import ResponseError

from gateway.audit import scope as request_scope
from gateway.domain.enterprises import Enterprise
from gateway.domain.subjects import Role
from gateway.stores.rate_limits import over_limit, window_of
from gateway.stores.redis import keys as k
from gateway.stores.redis.client import RedisClient, text, translate_errors
from gateway.stores.redis.enterprises import RedisEnterpriseStore, decode_enterprise
from gateway.stores.redis.multiplexed import MultiplexedConnection
from gateway.stores.redis.view_cache import RedisMergedViewCache

# KEYS: hints, user generation, user view, rate window ('' = not counted).
# ARGV: user id, the rate window's TTL, then the enterprise key layout as prefix and the
# suffixes of its members hash, record, deletion mark and generation (keys.py is the one
# source of the layout: the caller derives these from it), then how many generations the
# process's copy of the view was found current with, and each one's key and value ('' for
# none): while all still hold, the view is left out.
# Returns: count (or false), the hints (HGETALL's flat list), user generation, view (or
# false), 1 if the view was left out, then per hinted enterprise, in the hints' order: id,
# role, record, deletion mark, generation.
SUBJECT_READ = """
local count = false
if KEYS[4] ~= '' then
  count = redis.call('INCR', KEYS[4])
  if count == 1 then redis.call('EXPIRE', KEYS[4], ARGV[2]) end
end
local held = tonumber(ARGV[8])
local current = held > 0
for i = 0, held - 1 do
  if (redis.call('GET', ARGV[9 + 2 * i]) or '') ~= ARGV[10 + 2 * i] then
    current = false
    break
  end
end
local view = false
if not current then view = redis.call('GET', KEYS[3]) end
local hints = redis.call('HGETALL', KEYS[1])
local out = {count, hints, redis.call('GET', KEYS[2]), view, current and 1 or 0}
for i = 1, #hints, 2 do
  local tag = ARGV[3] .. hints[i]
  out[#out + 1] = hints[i]
  out[#out + 1] = redis.call('HGET', tag .. ARGV[4], ARGV[1])
  out[#out + 1] = redis.call('GET', tag .. ARGV[5])
  out[#out + 1] = redis.call('GET', tag .. ARGV[6])
  out[#out + 1] = redis.call('GET', tag .. ARGV[7])
end
return out
"""

_MARK = "\x00"


def _layout() -> list[str]:
    """The enterprise keys' prefix and suffixes, from keys.py."""
    prefix = k.enterprise_tag(_MARK).split(_MARK)[0]
    suffixes = [
        make(_MARK).split(_MARK)[1]
        for make in (k.enterprise_members, k.enterprise, k.enterprise_deleting,
                     k.enterprise_generation)
    ]  # fmt: skip
    return [prefix, *suffixes]


class RedisSubjectReads:
    """`SubjectReads` over one Redis. `limit` 0: nothing is counted (the rate limit is off).
    `shared`: the process's multiplexed connection (gateway/stores/redis/multiplexed.py) the
    script is sent on, pipelined with other requests' reads; else redis-py's client."""

    def __init__(
        self,
        client: RedisClient,
        enterprises: RedisEnterpriseStore,
        *,
        limit: int,
        window_seconds: int,
        shared: MultiplexedConnection | None = None,
        view_cache: RedisMergedViewCache | None = None,
    ) -> None:
        self._script = client.register_script(SUBJECT_READ)
        self._shared = shared
        self._view_cache = view_cache
        self._enterprises = enterprises
        self._limit = limit
        self._window = window_seconds
        self._layout = _layout()

    @translate_errors
    async def read(self, user_id: str) -> dict[str, tuple[Role, Enterprise]]:
        index, left = window_of(time.time(), self._window)
        rate_key = k.rate_window(user_id, index) if self._limit else ""
        hints_key = k.user_memberships(user_id)
        keys = [hints_key, k.user_generation(user_id), k.user_view(user_id), rate_key]
        # A window's key outlives it by a little, for clock skew (as RedisRateLimiter).
        args = [user_id, self._window + 5, *self._layout]
        held = self._view_cache.held(user_id) if self._view_cache is not None else None
        if held and request_scope.reading_ahead():
            args.append(len(held))
            for gen_key, value in held:
                args += [gen_key, value or b""]
        else:
            args.append(0)
        reply: list[Any] = await self._run(keys, args)
        count, raw_hints, user_gen, view, left_out = reply[:5]
        if count is not None:
            over_limit(user_id, int(count), self._limit, left)
        remembered: dict[str, bytes | None] = {k.user_generation(user_id): user_gen}
        if not left_out:
            remembered[k.user_view(user_id)] = view
        hints = {text(raw_hints[i]): text(raw_hints[i + 1]) for i in range(0, len(raw_hints), 2)}
        found: dict[str, tuple[Role, Enterprise]] = {}
        confirmed: set[str] = set()
        rest = reply[5:]
        for at in range(0, len(rest), 5):
            enterprise_id = text(rest[at])
            role, raw, deleting, generation = rest[at + 1 : at + 5]
            remembered[k.enterprise_generation(enterprise_id)] = generation
            if role is None:
                continue
            confirmed.add(enterprise_id)
            if raw is not None and deleting is None:
                found[enterprise_id] = (cast(Role, text(role)), decode_enterprise(raw))
        # Reading ahead (gateway/audit/scope.py): what the merged-view cache asks next.
        request_scope.remember(remembered)
        if len(confirmed) < len(hints):  # else nothing to drop (and no coroutine to run)
            await self._enterprises.drop_stale_hints(hints_key, hints, confirmed)
        return found

    async def _run(self, keys: list[str], args: list[Any]) -> list[Any]:
        reply: Any
        if self._shared is None:
            reply = await self._script(keys=keys, args=args)
            return cast(list[Any], reply)
        try:
            reply = await self._shared.execute("EVALSHA", self._script.sha, len(keys), *keys, *args)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            # Not in this Redis's script cache (a restart, SCRIPT FLUSH): sent whole, once.
            reply = await self._shared.execute("EVAL", SUBJECT_READ, len(keys), *keys, *args)
        return cast(list[Any], reply)
