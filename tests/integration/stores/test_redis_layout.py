"""Redis-only guarantees: Cluster-ready key layout, crash repair, and failing closed."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

import msgspec
import pytest
import pytest_asyncio
import redis.asyncio as aredis
from redis.exceptions import ClusterCrossSlotError

from gateway.domain.enterprises import Enterprise
from gateway.domain.servers import MCPServerConfig
from gateway.errors import BackendUnavailable, Conflict
from gateway.stores.base import EnterpriseMCPServerFilter, MCPServerFilter
from gateway.stores.redis import (
    RedisEnterpriseMCPServerStore,
    RedisEnterpriseStore,
    RedisMCPServerStore,
    redis_client_from_url,
)
from gateway.stores.redis import keys as k
from gateway.stores.redis import scripts as redis_scripts
from gateway.stores.redis.enterprises import HINT_GRACE_MS
from tests.fixtures.entities import NOW, approved, org, personal
from tests.fixtures.redis_server import free_port

pytestmark = pytest.mark.redis


def hash_tag(key: str) -> str:
    """What Redis Cluster hashes (CLUSTER KEYSLOT's rule): the first non-empty `{...}`."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


async def exercise_everything(client: aredis.Redis) -> None:
    """Every store operation once, for alice (personal) and ent_1 (enterprise)."""
    servers = RedisMCPServerStore(client)
    ent_servers = RedisEnterpriseMCPServerStore(client)
    enterprises = RedisEnterpriseStore(client)

    await servers.create(personal("mcp_1", "alice"))
    await servers.create(personal("mcp_2", "alice"))
    await servers.replace(personal("mcp_2", "alice"))
    await servers.delete("mcp_2")
    assert await servers.get("mcp_1") is not None
    assert len(await servers.list(MCPServerFilter(user_id="alice"))) == 1
    assert len(await servers.list(MCPServerFilter(user_id=None))) == 1
    assert await servers.generation("alice") == 4

    await enterprises.create(org("ent_1"), "alice")
    await enterprises.replace(org("ent_1"), expected=org("ent_1"))
    await enterprises.set_member("ent_1", "bob", "member", expected_version=1)
    await enterprises.set_member("ent_1", "bob", None, expected_version=2)
    await enterprises.set_member("ent_1", "bob", "admin", expected_version=3)
    assert await enterprises.memberships_of("bob") == {"ent_1": "admin"}
    assert await enterprises.members("ent_1") == ({"alice": "owner", "bob": "admin"}, 4)
    personal_ent = await enterprises.ensure_personal(
        "alice", Enterprise(id="ent_p", name="Mine", kind="personal", created_at=NOW)
    )
    assert personal_ent.id == "ent_p"
    assert set(await enterprises.get_many(["ent_1", "ent_p", "ent_x"])) == {"ent_1", "ent_p"}
    await enterprises.check()

    await ent_servers.create(approved("emcp_1", "ent_1", auto=True))
    await ent_servers.create(approved("emcp_2", "ent_p", auto=True))
    await ent_servers.replace(approved("emcp_1", "ent_1", auto=True))
    flt = EnterpriseMCPServerFilter(enterprise_ids=["ent_1", "ent_p"], auto_enabled_only=True)
    assert len(await ent_servers.list(flt)) == 2
    assert len(await ent_servers.list(EnterpriseMCPServerFilter(enterprise_ids=None))) == 2
    assert await ent_servers.generations(["ent_1", "ent_p"]) == {"ent_1": 2, "ent_p": 1}
    assert await ent_servers.delete("emcp_2") is not None
    await ent_servers.check()


async def test_keys_that_change_together_share_a_hash_tag(redis_client: aredis.Redis) -> None:
    await exercise_everything(redis_client)
    raw_keys = await redis_client.keys("gw:*")  # KEYS: tests only
    keys = sorted(key.decode() if isinstance(key, bytes) else key for key in raw_keys)

    by_tag: dict[str, set[str]] = {}
    for key in keys:
        by_tag.setdefault(hash_tag(key), set()).add(key)
    assert by_tag == {
        "u:alice": {
            "gw:{u:alice}:srv:mcp_1",
            "gw:{u:alice}:srvs",
            "gw:{u:alice}:gen",
            "gw:{u:alice}:ents",
            "gw:{u:alice}:personal",
        },
        "u:bob": {"gw:{u:bob}:ents"},
        "e:ent_1": {
            "gw:{e:ent_1}:ent",
            "gw:{e:ent_1}:members",
            "gw:{e:ent_1}:mver",
            "gw:{e:ent_1}:srv:emcp_1",
            "gw:{e:ent_1}:srvs",
            "gw:{e:ent_1}:gen",
        },
        "e:ent_p": {
            "gw:{e:ent_p}:ent",
            "gw:{e:ent_p}:members",
            "gw:{e:ent_p}:mver",
            "gw:{e:ent_p}:gen",  # its only server was deleted: Redis drops the empty set
        },
        "mcp_1": {"gw:loc:{mcp_1}"},
        "emcp_1": {"gw:eloc:{emcp_1}"},
        "gw:users": {"gw:users"},
        "gw:ents": {"gw:ents"},
    }
    # Values are msgspec JSON of the domain structs; locators name the owner.
    raw = await redis_client.get("gw:{u:alice}:srv:mcp_1")
    assert isinstance(raw, bytes)
    assert msgspec.json.decode(raw, type=MCPServerConfig) == personal("mcp_1", "alice")
    assert await redis_client.get("gw:loc:{mcp_1}") == b"alice"
    assert await redis_client.get("gw:eloc:{emcp_1}") == b"ent_1"


@pytest_asyncio.fixture
async def cluster_client(redis_cluster_url: str) -> AsyncIterator[aredis.Redis]:
    client = aredis.Redis.from_url(redis_cluster_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


async def test_every_operation_runs_on_redis_cluster(cluster_client: aredis.Redis) -> None:
    # The node rejects cross-slot scripts, MGETs and MULTIs, as this check of the check
    # shows; in a store that would surface as BackendUnavailable.
    with pytest.raises(ClusterCrossSlotError):
        await cluster_client.mget(["gw:{u:a}:x", "gw:{u:b}:x"])
    await exercise_everything(cluster_client)


def test_scripts_touch_only_declared_keys() -> None:
    # A one-node cluster owns every slot, so it cannot catch a script reaching an undeclared
    # key; every command's key argument must therefore be a KEYS[...] (an index or, in the
    # decision log's batch scripts, an index computed from ARGV).
    scripts = [v for v in vars(redis_scripts).values() if isinstance(v, str) and "redis.call" in v]
    calls = [c for script in scripts for c in re.findall(r"redis\.call\(([^)]*)\)", script)]
    assert len(calls) >= 15
    for call in calls:
        assert re.match(r"'[A-Z]+', KEYS\[[^\]]+\]", call), call


def test_braces_in_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="braces"):
        k.user_servers("mallory}")


# Crash repair: each test writes the state a crash between two writes leaves behind.


async def test_locator_without_record_reads_as_not_found(redis_client: aredis.Redis) -> None:
    servers = RedisMCPServerStore(redis_client)
    await redis_client.set(k.server_locator("mcp_1"), "alice")  # create crashed after it

    assert await servers.get("mcp_1") is None
    assert await servers.list(MCPServerFilter(user_id="alice")) == []
    await servers.create(personal("mcp_1", "alice"))  # the same owner reuses it
    assert await servers.get("mcp_1") == personal("mcp_1", "alice")


async def test_dangling_locator_of_another_owner_is_taken_over(
    redis_client: aredis.Redis,
) -> None:
    servers = RedisMCPServerStore(redis_client)
    await redis_client.set(k.server_locator("mcp_1"), "bob")

    await servers.create(personal("mcp_1", "alice"))
    assert await servers.get("mcp_1") == personal("mcp_1", "alice")
    assert await redis_client.get(k.server_locator("mcp_1")) == b"alice"
    with pytest.raises(Conflict):  # a live locator is not taken over
        await servers.create(personal("mcp_1", "bob"))


async def test_delete_clears_a_dangling_locator(redis_client: aredis.Redis) -> None:
    servers = RedisEnterpriseMCPServerStore(redis_client)
    await redis_client.set(k.enterprise_server_locator("emcp_1"), "ent_1")

    assert await servers.delete("emcp_1") is None
    assert await redis_client.exists(k.enterprise_server_locator("emcp_1")) == 0
    assert await servers.generations(["ent_1"]) == {"ent_1": 0}


async def test_index_entry_without_record_is_skipped(redis_client: aredis.Redis) -> None:
    servers = RedisMCPServerStore(redis_client)
    await servers.create(personal("mcp_1", "alice"))
    await redis_client.sadd(k.user_servers("alice"), "mcp_0")  # a racing delete's view

    assert [s.id for s in await servers.list(MCPServerFilter(user_id="alice"))] == ["mcp_1"]


async def test_personal_claim_without_enterprise_is_repaired(redis_client: aredis.Redis) -> None:
    enterprises = RedisEnterpriseStore(redis_client)
    # The winner claimed ent_claimed and crashed before creating it.
    await redis_client.set(k.user_personal_claim("carol"), "ent_claimed")

    candidate = Enterprise(id="ent_new", name="Carol", kind="personal", created_at=NOW)
    got = await enterprises.ensure_personal("carol", candidate)

    assert got.id == "ent_claimed" and got.name == "Carol"
    assert await enterprises.get("ent_claimed") == got
    assert await enterprises.get("ent_new") is None
    assert await enterprises.members("ent_claimed") == ({"carol": "owner"}, 1)
    assert await enterprises.memberships_of("carol") == {"ent_claimed": "owner"}
    again = await enterprises.ensure_personal(
        "carol", Enterprise(id="ent_other", name="X", kind="personal", created_at=NOW)
    )
    assert again == got


async def test_unconfirmed_membership_hints_are_ignored_then_dropped(
    redis_client: aredis.Redis,
) -> None:
    enterprises = RedisEnterpriseStore(redis_client)
    await enterprises.create(org("ent_1"), "alice")
    hints = k.user_memberships("bob")
    old = f"{time.time_ns() // 1_000_000 - HINT_GRACE_MS - 1}:00000000"
    fresh = f"{time.time_ns() // 1_000_000}:00000000"
    # An add that crashed long ago, a removal that crashed before its hint cleanup (and a
    # foreign value), and an add still in flight (its enterprise side is about to land).
    await redis_client.hset(hints, mapping={"ent_1": old, "ent_gone": "1", "ent_2": fresh})

    assert await enterprises.memberships_of("bob") == {}
    assert await redis_client.hgetall(hints) == {b"ent_2": fresh.encode()}

    # The in-flight add completes: the surviving hint makes it visible.
    await enterprises.create(org("ent_2"), "carol")
    await redis_client.hset(k.enterprise_members("ent_2"), "bob", "member")
    assert await enterprises.memberships_of("bob") == {"ent_2": "member"}


async def test_removal_crash_before_hint_cleanup_is_ignored(redis_client: aredis.Redis) -> None:
    enterprises = RedisEnterpriseStore(redis_client)
    await enterprises.create(org("ent_1"), "alice")
    await enterprises.set_member("ent_1", "bob", "member", expected_version=1)
    # Removal's enterprise side ran; the crash skipped the hint.
    await redis_client.hdel(k.enterprise_members("ent_1"), "bob")

    assert await enterprises.memberships_of("bob") == {}


async def test_removal_keeps_a_hint_rewritten_by_a_concurrent_add(
    redis_client: aredis.Redis,
) -> None:
    enterprises = RedisEnterpriseStore(redis_client)
    await enterprises.create(org("ent_1"), "alice")
    await enterprises.set_member("ent_1", "bob", "member", expected_version=1)
    await enterprises.set_member("ent_1", "bob", None, expected_version=2)
    assert await redis_client.hexists(k.user_memberships("bob"), "ent_1") == 0


# Failing closed.


@pytest_asyncio.fixture
async def down_client() -> AsyncIterator[aredis.Redis]:
    client = redis_client_from_url(f"redis://127.0.0.1:{free_port()}/0")  # nobody listens
    try:
        yield client
    finally:
        await client.aclose()


async def test_redis_down_is_backend_unavailable(down_client: aredis.Redis) -> None:
    servers = RedisMCPServerStore(down_client)
    ent_servers = RedisEnterpriseMCPServerStore(down_client)
    enterprises = RedisEnterpriseStore(down_client)
    started = time.monotonic()
    for call in [
        servers.check(),
        servers.list(MCPServerFilter(user_id="alice")),
        servers.list(MCPServerFilter(user_id=None)),
        servers.create(personal("mcp_1", "alice")),
        servers.get("mcp_1"),
        ent_servers.list(EnterpriseMCPServerFilter(enterprise_ids=["ent_1"])),
        ent_servers.generations(["ent_1"]),
        enterprises.check(),
        enterprises.memberships_of("alice"),
        enterprises.ensure_personal("alice", org("ent_1")),
    ]:
        with pytest.raises(BackendUnavailable, match="redis unavailable"):
            await call
    assert time.monotonic() - started < 10


async def test_wrong_type_is_backend_unavailable(redis_client: aredis.Redis) -> None:
    await redis_client.set(k.user_servers("alice"), "not a set")
    with pytest.raises(BackendUnavailable, match="redis unavailable"):
        await RedisMCPServerStore(redis_client).list(MCPServerFilter(user_id="alice"))
