"""The merged-view cache on a real Redis: hits skip the stores, and every kind of change —
personal server, enterprise server, membership, policy revision — is seen at once, across
replicas, even when a write races the computation. A down Redis degrades to computing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import msgspec
import pytest
import pytest_asyncio
import redis.asyncio as aredis
from prometheus_client import REGISTRY

from gateway.audit.masking import Masker
from gateway.audit.memory_log import MemoryDecisionLog
from gateway.audit.recorder import AuditRecorder
from gateway.audit.writer import AuditWriter
from gateway.config import REPO_POLICY_DIR
from gateway.domain.servers import AnyServer, EnterpriseMCPServer, MCPServerConfig
from gateway.domain.subjects import LOCAL_DEV_SUBJECT, Membership, Subject
from gateway.policy.decider import Authorizer
from gateway.policy.embedded import EmbeddedRegoEngine
from gateway.services.views import MergedView
from gateway.stores.base import EnterpriseMCPServerStore, MCPServerStore
from gateway.stores.memory import MemoryEnterpriseMCPServerStore, MemoryMCPServerStore
from gateway.stores.redis import (
    RedisEnterpriseMCPServerStore,
    RedisEnterpriseStore,
    RedisMCPServerStore,
    redis_client_from_url,
)
from gateway.stores.redis import keys as k
from gateway.stores.redis import view_cache as view_cache_module
from gateway.stores.redis.client import RedisClient
from gateway.stores.redis.view_cache import RedisMergedViewCache, view_key
from tests.fixtures.entities import approved, org, personal
from tests.fixtures.redis_server import client_like, free_port

pytestmark = pytest.mark.redis


def subject(user_id: str = "alice", *enterprise_ids: str) -> Subject:
    return Subject(
        id=user_id,
        email=f"{user_id}@example.com",
        memberships={e: Membership(role="member", kind="organization") for e in enterprise_ids},
    )


def ids(items: list[AnyServer]) -> list[str]:
    return [s.id for s in items]


@pytest.fixture
def redis_client(each_redis_client: RedisClient) -> RedisClient:
    """Each test on one Redis, then on the three-primary cluster."""
    return each_redis_client


@pytest.fixture(scope="module")
def engine() -> EmbeddedRegoEngine:
    return EmbeddedRegoEngine(REPO_POLICY_DIR)


@dataclass
class Replica:
    """One gateway replica's view machinery: its own stores and cache, possibly one Redis."""

    authorizer: Authorizer
    personal: MCPServerStore
    enterprise: EnterpriseMCPServerStore
    cache: RedisMergedViewCache
    computed: int = 0
    revision: list[str] = field(default_factory=lambda: ["rev-1"])

    @property
    def uncached(self) -> MergedView:
        return MergedView(self.authorizer, self.personal, self.enterprise)

    async def read(
        self, who: Subject, *, during: Callable[[], Awaitable[None]] | None = None
    ) -> list[AnyServer]:
        """The cached view, counting computations; `during` runs inside the computation,
        after the stores were read (a write racing a slow miss)."""
        scope = await self.authorizer.view_scope(who)

        async def compute() -> list[AnyServer]:
            self.computed += 1
            items = await self.uncached.compute(scope)
            if during is not None:
                await during()
            return items

        return (await self.cache.get_or_compute(who.id, scope, compute)).items

    async def truth(self, who: Subject) -> list[AnyServer]:
        return await self.uncached.servers(who)


def make_replica(
    engine: EmbeddedRegoEngine,
    client: aredis.Redis,
    personal_store: MCPServerStore | None = None,
    enterprise_store: EnterpriseMCPServerStore | None = None,
) -> Replica:
    revision = ["rev-1"]
    return Replica(
        # The writer is not started: these tests read views, not the decision log.
        authorizer=Authorizer(
            engine, AuditRecorder(AuditWriter(MemoryDecisionLog(), Masker(engine)), labels={})
        ),
        personal=RedisMCPServerStore(client) if personal_store is None else personal_store,
        enterprise=(
            RedisEnterpriseMCPServerStore(client) if enterprise_store is None else enterprise_store
        ),
        cache=RedisMergedViewCache(client, lambda: revision[0]),
        revision=revision,
    )


@pytest_asyncio.fixture
async def replica(engine: EmbeddedRegoEngine, redis_client: aredis.Redis) -> Replica:
    await seed_enterprises(redis_client)
    return make_replica(engine, redis_client)


async def seed_enterprises(client: aredis.Redis) -> None:
    """Enterprise servers need their enterprise to exist (the create script checks)."""
    store = RedisEnterpriseStore(client)
    for enterprise_id in ("ent_1", "ent_2", "ent_3"):
        await store.create(org(enterprise_id), "alice")


async def assert_fresh(replica: Replica, who: Subject, expected: list[str]) -> None:
    """The cached read equals a fresh computation and names `expected`."""
    got = await replica.read(who)
    assert ids(got) == expected
    assert got == await replica.truth(who)


async def test_a_hit_returns_the_same_view_without_computing(replica: Replica) -> None:
    await replica.personal.create(personal("mcp_2"))
    await replica.personal.create(personal("mcp_1"))
    await replica.enterprise.create(approved("emcp_1", "ent_1", auto=True))
    who = subject("alice", "ent_1")

    first = await replica.read(who)
    second = await replica.read(who)

    assert ids(first) == ["emcp_1", "mcp_1", "mcp_2"]
    assert second == first == await replica.truth(who)
    assert type(second[0]) is EnterpriseMCPServer and type(second[1]) is MCPServerConfig
    assert replica.computed == 1
    assert (replica.cache.hits, replica.cache.misses, replica.cache.errors) == (1, 1, 0)


async def test_the_in_process_copy_is_served_while_its_stamp_is_current(
    replica: Replica, redis_client: aredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same snapshot object, not a decoded copy of the Redis entry (its pages were encoded
    once): with the entry gone from Redis it is still a hit; a write's generation makes it a
    miss at once."""
    await replica.personal.create(personal("mcp_1"))
    who = subject("alice")
    scope = await replica.authorizer.view_scope(who)

    async def compute() -> list[AnyServer]:
        return await replica.uncached.compute(scope)

    first = await replica.cache.get_or_compute("alice", scope, compute)
    await redis_client.delete(view_key("alice"))
    second = await replica.cache.get_or_compute("alice", scope, compute)
    assert second is first and replica.cache.local_hits == 1
    # Once its stamp was checked, a copy is served on equal inputs without hashing them
    # again — though each request's scope carries a decision id of its own.
    hashed: list[str] = []
    monkeypatch.setattr(view_cache_module, "_stamp", lambda *a: hashed.append("x") or "")
    again = await replica.cache.get_or_compute(
        "alice", msgspec.structs.replace(scope, decision_id="another"), compute
    )
    assert again is first and hashed == []
    monkeypatch.undo()
    await replica.personal.create(personal("mcp_2"))
    third = await replica.cache.get_or_compute("alice", scope, compute)
    assert third is not first and ids(third.items) == ["mcp_1", "mcp_2"]
    assert (replica.cache.hits, replica.cache.misses) == (2, 2)


async def test_the_in_process_copies_stay_within_their_bounds(
    replica: Replica, redis_client: aredis.Redis
) -> None:
    """Least recently used out first, by count and by bytes; an evicted user's next read is
    served from the Redis entry (decoded once, then kept again)."""
    cache = RedisMergedViewCache(redis_client, "rev-1", local_entries=2, local_bytes=10_000)
    for user in ("u1", "u2", "u3"):
        await replica.personal.create(personal(f"mcp_{user}", user_id=user))

    async def read(user: str) -> list[str]:
        who = subject(user)
        scope = await replica.authorizer.view_scope(who)
        return ids(
            (await cache.get_or_compute(user, scope, lambda: replica.uncached.compute(scope))).items
        )

    for user in ("u1", "u2", "u3"):
        assert await read(user) == [f"mcp_{user}"]
    assert list(cache._local) == ["u2", "u3"]  # u1 was the least recently used
    assert await read("u1") == ["mcp_u1"]  # from Redis, no compute
    assert (cache.misses, cache.hits, cache.local_hits) == (3, 1, 0)
    assert list(cache._local) == ["u3", "u1"]
    assert 0 < cache.local_weight <= 10_000
    # /metrics says the same (the last cache that kept something sets the gauges).
    assert REGISTRY.get_sample_value("gateway_view_cache_local_users") == 2
    assert REGISTRY.get_sample_value("gateway_view_cache_local_bytes") == cache.local_weight
    tiny = RedisMergedViewCache(redis_client, "rev-1", local_bytes=10)
    who = subject("u1")
    scope = await replica.authorizer.view_scope(who)
    await tiny.get_or_compute("u1", scope, lambda: replica.uncached.compute(scope))
    assert not tiny._local and tiny.local_weight == 0  # larger than the whole budget


async def test_the_entry_sits_in_the_users_slot_with_a_ttl(
    replica: Replica, redis_client: aredis.Redis
) -> None:
    await replica.read(subject("alice"))

    assert view_key("alice").startswith(k.user_tag("alice") + ":")
    assert 0 < await redis_client.ttl(view_key("alice")) <= 3600


async def test_personal_create_update_delete_are_seen_at_once(replica: Replica) -> None:
    who = subject("alice")
    await assert_fresh(replica, who, [])

    await replica.personal.create(personal("mcp_1"))
    await assert_fresh(replica, who, ["mcp_1"])

    renamed = msgspec.structs.replace(personal("mcp_1"), name="renamed")
    await replica.personal.replace(renamed)
    assert (await replica.read(who))[0] == renamed

    await replica.personal.delete("mcp_1")
    await assert_fresh(replica, who, [])
    assert replica.computed == 4 and replica.cache.hits == 0


async def test_another_users_write_does_not_invalidate(replica: Replica) -> None:
    who = subject("alice", "ent_1")
    await replica.read(who)

    await replica.personal.create(personal("mcp_9", user_id="bob"))
    await replica.enterprise.create(approved("emcp_9", "ent_2", auto=True))
    await replica.read(who)

    assert replica.computed == 1


async def test_toggling_auto_enabled_is_seen_at_once(replica: Replica) -> None:
    server = approved("emcp_1", "ent_1", auto=False)
    await replica.enterprise.create(server)
    who = subject("alice", "ent_1")
    await assert_fresh(replica, who, [])

    await replica.enterprise.replace(msgspec.structs.replace(server, auto_enabled=True))
    await assert_fresh(replica, who, ["emcp_1"])

    await replica.enterprise.replace(msgspec.structs.replace(server, auto_enabled=False))
    await assert_fresh(replica, who, [])


async def test_every_member_sees_an_enterprise_write_with_one_counter_bump(
    replica: Replica, redis_client: aredis.Redis
) -> None:
    members = [subject(f"user{i}", "ent_1") for i in range(20)]
    for who in members:
        await replica.read(who)
    gen_before = int(await redis_client.get(k.enterprise_generation("ent_1")) or 0)

    await replica.enterprise.create(approved("emcp_1", "ent_1", auto=True))

    assert int(await redis_client.get(k.enterprise_generation("ent_1")) or 0) == gen_before + 1
    for who in members:
        await assert_fresh(replica, who, ["emcp_1"])


async def test_joining_and_leaving_an_enterprise_is_seen_at_once(replica: Replica) -> None:
    await replica.personal.create(personal("mcp_1"))
    await replica.enterprise.create(approved("emcp_1", "ent_1", auto=True))
    await assert_fresh(replica, subject("alice"), ["mcp_1"])

    await assert_fresh(replica, subject("alice", "ent_1"), ["emcp_1", "mcp_1"])

    await assert_fresh(replica, subject("alice"), ["mcp_1"])
    assert replica.computed == 3


async def test_a_new_policy_revision_misses(replica: Replica) -> None:
    who = subject("alice")
    await replica.read(who)
    await replica.read(who)
    assert replica.computed == 1

    replica.revision[0] = "rev-2"
    await replica.read(who)
    assert replica.computed == 2
    assert replica.cache.misses == 2


async def test_replicas_sharing_redis_never_serve_each_other_stale(
    engine: EmbeddedRegoEngine, redis_client: RedisClient, each_redis_url: str, redis_kind: str
) -> None:
    other_client = client_like(each_redis_url, redis_kind)
    try:
        await seed_enterprises(redis_client)
        one = make_replica(engine, redis_client)
        two = make_replica(engine, other_client)
        who = subject("alice", "ent_1")
        await assert_fresh(one, who, [])
        await assert_fresh(two, who, [])  # a hit on what replica one cached
        assert two.computed == 0

        await two.personal.create(personal("mcp_1"))
        await assert_fresh(one, who, ["mcp_1"])

        await two.enterprise.create(approved("emcp_1", "ent_1", auto=True))
        await assert_fresh(one, who, ["emcp_1", "mcp_1"])
        await assert_fresh(two, who, ["emcp_1", "mcp_1"])
        assert one.computed == 3 and two.computed == 0
    finally:
        await other_client.aclose()


async def test_a_write_during_a_miss_is_not_cached_as_the_newer_state(
    replica: Replica,
) -> None:
    who = subject("alice", "ent_1")
    await replica.personal.create(personal("mcp_1"))

    async def racing_writes() -> None:
        await replica.personal.create(personal("mcp_2"))
        await replica.enterprise.create(approved("emcp_1", "ent_1", auto=True))

    # The slow miss read the stores before the writes landed and caches what it saw...
    assert ids(await replica.read(who, during=racing_writes)) == ["mcp_1"]
    # ...under the stamp of the generations it read before computing, so nobody is served it.
    await assert_fresh(replica, who, ["emcp_1", "mcp_1", "mcp_2"])
    assert replica.computed == 2


async def test_a_write_between_stamp_and_compute_only_costs_a_miss(replica: Replica) -> None:
    who = subject("alice")
    scope = await replica.authorizer.view_scope(who)

    async def write_then_compute() -> list[AnyServer]:
        await replica.personal.create(personal("mcp_1"))
        return await replica.uncached.compute(scope)

    # Data newer than its stamp: served to this (concurrent) caller, never to a later one.
    assert ids((await replica.cache.get_or_compute("alice", scope, write_then_compute)).items) == [
        "mcp_1"
    ]
    await replica.personal.delete("mcp_1")
    await assert_fresh(replica, who, [])


async def test_concurrent_misses_and_writes_settle_on_the_truth(replica: Replica) -> None:
    who = subject("alice", "ent_1")

    async def write(i: int) -> None:
        await replica.personal.create(personal(f"mcp_{i:02d}"))

    await asyncio.gather(*(op for i in range(10) for op in (write(i), replica.read(who))))

    await assert_fresh(replica, who, [f"mcp_{i:02d}" for i in range(10)])


async def test_a_corrupt_entry_is_recomputed_and_overwritten(
    replica: Replica, redis_client: aredis.Redis
) -> None:
    await replica.personal.create(personal("mcp_1"))
    await redis_client.set(view_key("alice"), b"not json")

    await assert_fresh(replica, subject("alice"), ["mcp_1"])
    await assert_fresh(replica, subject("alice"), ["mcp_1"])

    assert replica.cache.errors == 1 and replica.computed == 1 and replica.cache.hits == 1


async def test_the_unscoped_view_is_never_cached(
    replica: Replica, redis_client: aredis.Redis
) -> None:
    await replica.personal.create(personal("mcp_1", user_id="bob"))
    assert ids(await replica.read(LOCAL_DEV_SUBJECT)) == ["mcp_1"]
    await replica.personal.create(personal("mcp_2", user_id="carol"))  # a user no key covers
    assert ids(await replica.read(LOCAL_DEV_SUBJECT)) == ["mcp_1", "mcp_2"]

    assert replica.computed == 2 and replica.cache.bypasses == 2
    assert await redis_client.exists(view_key(LOCAL_DEV_SUBJECT.id)) == 0


@pytest_asyncio.fixture
async def dead_redis() -> AsyncIterator[aredis.Redis]:
    # The production client (short timeouts, few retries), at a port nobody listens on.
    client = redis_client_from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        yield client
    finally:
        await client.aclose()


async def test_a_down_redis_degrades_to_computing_the_view(
    engine: EmbeddedRegoEngine, dead_redis: aredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    replica = make_replica(
        engine, dead_redis, MemoryMCPServerStore(), MemoryEnterpriseMCPServerStore()
    )
    await replica.personal.create(personal("mcp_1"))
    await replica.enterprise.create(approved("emcp_1", "ent_1", auto=True))
    await replica.enterprise.create(approved("emcp_2", "ent_1", auto=False))
    who = subject("alice", "ent_1")

    with caplog.at_level(logging.WARNING, logger="gateway.stores.redis.view_cache"):
        await assert_fresh(replica, who, ["emcp_1", "mcp_1"])
        await replica.personal.create(personal("mcp_2"))
        await assert_fresh(replica, who, ["emcp_1", "mcp_1", "mcp_2"])

    assert replica.computed == 2
    assert replica.cache.errors == 2 and replica.cache.hits == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # throttled: one warning, not one per request
    assert "computing the view" in warnings[0].getMessage()


async def test_the_cache_plugs_into_merged_view(replica: Replica) -> None:
    await replica.personal.create(personal("mcp_1"))
    view = MergedView(replica.authorizer, replica.personal, replica.enterprise, replica.cache)
    who = subject("alice")

    assert ids(await view.servers(who)) == ["mcp_1"]
    assert ids(await view.servers(who)) == ["mcp_1"]
    await replica.personal.delete("mcp_1")
    assert await view.servers(who) == []
    assert (replica.cache.hits, replica.cache.misses) == (1, 2)
