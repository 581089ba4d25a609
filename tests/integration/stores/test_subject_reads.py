"""The one-round-trip read of a request's subject on a single Redis (RedisSubjectReads) against
the rate limiter then the enterprise store (CountThenRead, what memory stores and a cluster
use): the same memberships, the same count, the same refusal past the limit, and the reads it
leaves for the merged-view cache."""

from __future__ import annotations

import pytest

from gateway.audit import scope as request_scope
from gateway.domain.requests import RequestInfo
from gateway.errors import RateLimited
from gateway.stores.redis import RedisEnterpriseStore
from gateway.stores.redis import keys as k
from gateway.stores.redis.client import RedisClient
from gateway.stores.redis.multiplexed import MultiplexedConnection
from gateway.stores.redis.rate_limits import RedisRateLimiter
from gateway.stores.redis.subject_reads import RedisSubjectReads
from gateway.stores.subject_reads import CountThenRead
from tests.fixtures.entities import org

pytestmark = pytest.mark.redis

LIMIT = 3


async def _tenant(enterprises: RedisEnterpriseStore) -> None:
    await enterprises.create(org("ent_b"), "alice")
    await enterprises.create(org("ent_a"), "carol")
    await enterprises.create(org("ent_c"), "alice")
    await enterprises.create(org("ent_d"), "alice")
    await enterprises.set_member("ent_a", "alice", "member", expected_version=1)
    stored = await enterprises.get("ent_c")
    assert stored is not None
    await enterprises.begin_delete("ent_c", expected=stored)  # not live: not a membership
    await enterprises.set_member("ent_d", "alice", None, expected_version=1)  # left


async def test_one_script_reads_what_the_two_steps_read(redis_client: RedisClient) -> None:
    enterprises = RedisEnterpriseStore(redis_client)
    await _tenant(enterprises)
    one = RedisSubjectReads(redis_client, enterprises, limit=LIMIT, window_seconds=3600)
    two = CountThenRead(RedisRateLimiter(redis_client, LIMIT, 3600), enterprises)

    first = await one.read("alice")
    assert first == await two.read("alice")
    assert first == {"ent_a": ("member", org("ent_a")), "ent_b": ("owner", org("ent_b"))}
    assert await one.read("nobody") == {}
    # Both counted into the same window: a third request is the limit, a fourth is refused.
    await one.read("alice")
    with pytest.raises(RateLimited) as refused:
        await two.read("alice")
    assert refused.value.retry_after >= 1
    with pytest.raises(RateLimited):
        await one.read("alice")


async def test_limit_zero_counts_nothing(redis_client: RedisClient) -> None:
    enterprises = RedisEnterpriseStore(redis_client)
    reads = RedisSubjectReads(redis_client, enterprises, limit=0, window_seconds=3600)
    for _ in range(5):
        assert await reads.read("alice") == {}
    assert not await redis_client.keys(k.rate_window("alice", 0).rsplit(":", 1)[0] + ":*")


async def test_it_reads_ahead_for_the_view_cache(redis_client: RedisClient) -> None:
    """Inside a request that may read ahead, the user's view and generation and each hinted
    enterprise's generation are left for the merged-view cache (gateway/audit/scope.py)."""
    enterprises = RedisEnterpriseStore(redis_client)
    await _tenant(enterprises)
    await redis_client.set(k.user_view("alice"), b"cached")
    await redis_client.set(k.enterprise_generation("ent_b"), 7)
    reads = RedisSubjectReads(redis_client, enterprises, limit=0, window_seconds=3600)
    scope = request_scope.RequestScope(RequestInfo(method="GET", path="/v1"), read_ahead=True)
    with request_scope.entered(scope):
        await reads.read("alice")
        assert request_scope.recall(
            [k.user_view("alice"), k.enterprise_generation("ent_b"), k.user_generation("alice")]
        ) == [b"cached", b"7", None]


async def test_on_the_shared_connection_the_same_and_after_a_script_flush(
    redis_client: RedisClient, redis_url: str
) -> None:
    """Sent on the process's multiplexed connection (as wiring does on one Redis): the same
    answer and count; a Redis that lost its script cache (restart, SCRIPT FLUSH) gets the
    script whole and answers."""
    enterprises = RedisEnterpriseStore(redis_client)
    await _tenant(enterprises)
    shared = MultiplexedConnection(redis_url)
    try:
        via_shared = RedisSubjectReads(
            redis_client, enterprises, limit=LIMIT, window_seconds=3600, shared=shared
        )
        via_client = RedisSubjectReads(redis_client, enterprises, limit=LIMIT, window_seconds=3600)
        await redis_client.script_flush()
        assert await via_shared.read("alice") == await via_client.read("alice")
        assert await via_shared.read("alice") == {
            "ent_a": ("member", org("ent_a")),
            "ent_b": ("owner", org("ent_b")),
        }
        with pytest.raises(RateLimited):
            await via_shared.read("alice")
    finally:
        await shared.aclose()
