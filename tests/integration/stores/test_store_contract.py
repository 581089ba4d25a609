"""One contract, every backend: the memory stores define the semantics, Redis must match."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio

from gateway.domain.enterprises import Enterprise
from gateway.domain.servers import EnterpriseMCPServer, MCPServerConfig
from gateway.errors import Conflict, NotFound
from gateway.stores.base import (
    EnterpriseMCPServerFilter,
    EnterpriseMCPServerStore,
    EnterpriseStore,
    MCPServerFilter,
    MCPServerStore,
)
from gateway.stores.memory import (
    MemoryEnterpriseMCPServerStore,
    MemoryEnterpriseStore,
    MemoryMCPServerStore,
)
from gateway.stores.redis import (
    RedisEnterpriseMCPServerStore,
    RedisEnterpriseStore,
    RedisMCPServerStore,
)
from gateway.stores.redis.client import RedisClient
from tests.fixtures.entities import NOW, approved, org, personal


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        # Three primaries: an owner's keys, its locators and the owner sets sit on
        # different nodes, as in production on a Redis Cluster.
        pytest.param("cluster", marks=pytest.mark.redis),
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def redis_of(backend: str, request: pytest.FixtureRequest) -> RedisClient:
    name = "redis_cluster3_client" if backend == "cluster" else "redis_client"
    client: RedisClient = request.getfixturevalue(name)
    return client


@pytest.fixture
def servers(backend: str, request: pytest.FixtureRequest) -> MCPServerStore:
    if backend == "memory":
        return MemoryMCPServerStore()
    return RedisMCPServerStore(redis_of(backend, request))


@pytest.fixture
def enterprises(backend: str, request: pytest.FixtureRequest) -> EnterpriseStore:
    if backend == "memory":
        return MemoryEnterpriseStore()
    return RedisEnterpriseStore(redis_of(backend, request))


@pytest_asyncio.fixture
async def enterprise_servers(
    backend: str, enterprises: EnterpriseStore, request: pytest.FixtureRequest
) -> EnterpriseMCPServerStore:
    """Servers of ent_a, ent_b and ent_c (which exist: a server needs its enterprise)."""
    for enterprise_id in ("ent_a", "ent_b", "ent_c"):
        await enterprises.create(org(enterprise_id), "alice")
    if backend == "memory":
        assert isinstance(enterprises, MemoryEnterpriseStore)
        return MemoryEnterpriseMCPServerStore(enterprises)
    return RedisEnterpriseMCPServerStore(redis_of(backend, request))


def ids(items: list[MCPServerConfig] | list[EnterpriseMCPServer]) -> list[str]:
    return [s.id for s in items]


# Personal servers.


async def test_create_get_and_list_sorted_per_user(servers: MCPServerStore) -> None:
    for sid, user in [("mcp_3", "alice"), ("mcp_1", "alice"), ("mcp_2", "bob")]:
        await servers.create(personal(sid, user))

    assert await servers.get("mcp_1") == personal("mcp_1", "alice")
    assert await servers.get("mcp_missing") is None
    assert ids(await servers.list(MCPServerFilter(user_id="alice"))) == ["mcp_1", "mcp_3"]
    assert ids(await servers.list(MCPServerFilter(user_id="bob"))) == ["mcp_2"]
    assert await servers.list(MCPServerFilter(user_id="nobody")) == []
    unscoped = await servers.list(MCPServerFilter(user_id=None))
    assert ids(unscoped) == ["mcp_1", "mcp_2", "mcp_3"]


async def test_create_duplicate_id_conflicts(servers: MCPServerStore) -> None:
    await servers.create(personal("mcp_1", "alice"))
    with pytest.raises(Conflict):
        await servers.create(personal("mcp_1", "alice", name="other"))
    with pytest.raises(Conflict):  # even for another user: ids are global
        await servers.create(personal("mcp_1", "bob"))
    assert await servers.get("mcp_1") == personal("mcp_1", "alice")
    assert await servers.list(MCPServerFilter(user_id="bob")) == []


async def test_replace(servers: MCPServerStore) -> None:
    await servers.create(personal("mcp_1", "alice"))
    await servers.replace(personal("mcp_1", "alice", name="renamed"))
    found = await servers.get("mcp_1")
    assert found is not None and found.name == "renamed"


async def test_replace_of_deleted_server_is_not_found(servers: MCPServerStore) -> None:
    await servers.create(personal("mcp_1", "alice"))
    await servers.delete("mcp_1")
    with pytest.raises(NotFound):
        await servers.replace(personal("mcp_1", "alice", name="renamed"))
    assert await servers.get("mcp_1") is None


async def test_delete_returns_the_deleted_server(servers: MCPServerStore) -> None:
    await servers.create(personal("mcp_1", "alice"))
    await servers.create(personal("mcp_2", "alice"))
    assert await servers.delete("mcp_1") == personal("mcp_1", "alice")
    assert await servers.get("mcp_1") is None
    assert ids(await servers.list(MCPServerFilter(user_id="alice"))) == ["mcp_2"]
    assert await servers.delete("mcp_1") is None
    # The id is free again.
    await servers.create(personal("mcp_1", "bob"))
    assert await servers.get("mcp_1") == personal("mcp_1", "bob")


async def test_generation_bumps_on_every_write_of_that_user_only(
    servers: MCPServerStore,
) -> None:
    assert await servers.generation("alice") == 0
    await servers.create(personal("mcp_1", "alice"))
    assert (await servers.generation("alice"), await servers.generation("bob")) == (1, 0)
    await servers.replace(personal("mcp_1", "alice", name="renamed"))
    assert await servers.generation("alice") == 2
    await servers.create(personal("mcp_2", "bob"))
    assert (await servers.generation("alice"), await servers.generation("bob")) == (2, 1)
    await servers.delete("mcp_1")
    assert (await servers.generation("alice"), await servers.generation("bob")) == (3, 1)
    # Failed writes change nothing.
    await servers.delete("mcp_1")
    with pytest.raises(Conflict):
        await servers.create(personal("mcp_2", "bob"))
    with pytest.raises(NotFound):
        await servers.replace(personal("mcp_1", "alice"))
    assert (await servers.generation("alice"), await servers.generation("bob")) == (3, 1)


async def test_stored_servers_are_copies(servers: MCPServerStore) -> None:
    server = personal("mcp_1", "alice")
    await servers.create(server)
    server.args.append("--changed-after-create")
    got = await servers.get("mcp_1")
    assert got is not None
    got.args.append("--changed-after-get")
    listed = await servers.list(MCPServerFilter(user_id="alice"))
    listed[0].env.append("OTHER")
    assert await servers.get("mcp_1") == personal("mcp_1", "alice")


# Enterprise servers.


async def test_enterprise_servers_listed_for_several_enterprises(
    enterprise_servers: EnterpriseMCPServerStore,
) -> None:
    await enterprise_servers.create(approved("emcp_4", "ent_b", auto=True))
    await enterprise_servers.create(approved("emcp_1", "ent_a"))
    await enterprise_servers.create(approved("emcp_2", "ent_a", auto=True))
    await enterprise_servers.create(approved("emcp_3", "ent_c", auto=True))

    def flt(ents: list[str] | None, auto: bool = False) -> EnterpriseMCPServerFilter:
        return EnterpriseMCPServerFilter(enterprise_ids=ents, auto_enabled_only=auto)

    assert ids(await enterprise_servers.list(flt(["ent_b", "ent_a"]))) == [
        "emcp_1",
        "emcp_2",
        "emcp_4",
    ]
    assert ids(await enterprise_servers.list(flt(["ent_a", "ent_b"], auto=True))) == [
        "emcp_2",
        "emcp_4",
    ]
    assert ids(await enterprise_servers.list(flt(["ent_a", "ent_a"]))) == ["emcp_1", "emcp_2"]
    assert await enterprise_servers.list(flt([])) == []
    assert await enterprise_servers.list(flt(["ent_none"])) == []
    assert ids(await enterprise_servers.list(flt(None))) == [
        "emcp_1",
        "emcp_2",
        "emcp_3",
        "emcp_4",
    ]
    assert ids(await enterprise_servers.list(flt(None, auto=True))) == [
        "emcp_2",
        "emcp_3",
        "emcp_4",
    ]
    assert await enterprise_servers.get("emcp_3") == approved("emcp_3", "ent_c", auto=True)
    assert await enterprise_servers.get("emcp_9") is None


async def test_enterprise_server_writes(enterprise_servers: EnterpriseMCPServerStore) -> None:
    await enterprise_servers.create(approved("emcp_1", "ent_a"))
    with pytest.raises(Conflict):
        await enterprise_servers.create(approved("emcp_1", "ent_b"))
    await enterprise_servers.replace(approved("emcp_1", "ent_a", auto=True))
    found = await enterprise_servers.get("emcp_1")
    assert found is not None and found.auto_enabled
    found.args.append("mutated")  # a copy: the store is untouched
    assert await enterprise_servers.get("emcp_1") == approved("emcp_1", "ent_a", auto=True)
    assert await enterprise_servers.delete("emcp_1") == approved("emcp_1", "ent_a", auto=True)
    assert await enterprise_servers.delete("emcp_1") is None
    with pytest.raises(NotFound):
        await enterprise_servers.replace(approved("emcp_1", "ent_a"))
    flt = EnterpriseMCPServerFilter(enterprise_ids=["ent_a"])
    assert await enterprise_servers.list(flt) == []


async def test_enterprise_generations_bump_only_the_affected_enterprise(
    enterprise_servers: EnterpriseMCPServerStore,
) -> None:
    assert await enterprise_servers.generations(["ent_a", "ent_b"]) == {"ent_a": 0, "ent_b": 0}
    assert await enterprise_servers.generations([]) == {}
    await enterprise_servers.create(approved("emcp_1", "ent_a"))
    await enterprise_servers.replace(approved("emcp_1", "ent_a", auto=True))
    await enterprise_servers.create(approved("emcp_2", "ent_b"))
    await enterprise_servers.delete("emcp_1")
    assert await enterprise_servers.generations(["ent_a", "ent_b", "ent_c"]) == {
        "ent_a": 3,
        "ent_b": 1,
        "ent_c": 0,
    }


# Enterprises and members.


async def test_enterprise_create_get_replace(enterprises: EnterpriseStore) -> None:
    await enterprises.create(org("ent_a"), "alice")
    assert await enterprises.get("ent_a") == org("ent_a")
    assert await enterprises.get("ent_missing") is None
    with pytest.raises(Conflict):
        await enterprises.create(org("ent_a", name="Other"), "bob")
    assert await enterprises.members("ent_a") == ({"alice": "owner"}, 1)
    assert await enterprises.memberships_of("bob") == {}

    await enterprises.create(org("ent_b", name="Beta"), "bob")
    assert await enterprises.get_many(["ent_b", "ent_missing", "ent_a", "ent_b"]) == {
        "ent_b": org("ent_b", name="Beta"),
        "ent_a": org("ent_a"),
    }
    assert await enterprises.get_many([]) == {}
    many = await enterprises.get_many(["ent_a"])
    many["ent_a"].name = "mutated"
    assert await enterprises.get("ent_a") == org("ent_a")

    await enterprises.replace(org("ent_a", name="Acme Corp"), expected=org("ent_a"))
    found = await enterprises.get("ent_a")
    assert found is not None and found.name == "Acme Corp"
    found.name = "mutated"
    assert await enterprises.get("ent_a") == org("ent_a", name="Acme Corp")
    with pytest.raises(NotFound):
        await enterprises.replace(org("ent_missing"), expected=org("ent_missing"))
    # A PATCH based on a stale read is a conflict, not a lost update.
    with pytest.raises(Conflict):
        await enterprises.replace(org("ent_a", name="Stale"), expected=org("ent_a"))
    assert await enterprises.get("ent_a") == org("ent_a", name="Acme Corp")


async def test_memberships_and_set_member(enterprises: EnterpriseStore) -> None:
    await enterprises.create(org("ent_b"), "alice")
    await enterprises.create(org("ent_a"), "carol")
    assert await enterprises.memberships_of("alice") == {"ent_b": "owner"}
    assert await enterprises.members("ent_missing") == ({}, 0)

    members, version = await enterprises.members("ent_a")
    assert (members, version) == ({"carol": "owner"}, 1)
    await enterprises.set_member("ent_a", "alice", "member", expected_version=version)
    assert await enterprises.memberships_of("alice") == {"ent_a": "member", "ent_b": "owner"}
    assert list(await enterprises.memberships_of("alice")) == ["ent_a", "ent_b"]

    await enterprises.set_member("ent_a", "alice", "admin", expected_version=2)
    assert await enterprises.members("ent_a") == ({"carol": "owner", "alice": "admin"}, 3)
    assert (await enterprises.memberships_of("alice"))["ent_a"] == "admin"

    await enterprises.set_member("ent_a", "alice", None, expected_version=3)
    assert await enterprises.memberships_of("alice") == {"ent_b": "owner"}
    assert await enterprises.members("ent_a") == ({"carol": "owner"}, 4)

    # Re-adding after a removal works (the hint is written again).
    await enterprises.set_member("ent_a", "alice", "member", expected_version=4)
    assert await enterprises.memberships_of("alice") == {"ent_a": "member", "ent_b": "owner"}


async def test_memberships_with_records_are_the_live_ones(enterprises: EnterpriseStore) -> None:
    """What every request reads: role and record together, as memberships_of + get_many
    would give them, without an enterprise being deleted."""
    await enterprises.create(org("ent_b"), "alice")
    await enterprises.create(org("ent_a"), "carol")
    await enterprises.create(org("ent_c"), "alice")
    await enterprises.set_member("ent_a", "alice", "member", expected_version=1)
    assert await enterprises.memberships_with_records("alice") == {
        "ent_a": ("member", org("ent_a")),
        "ent_b": ("owner", org("ent_b")),
        "ent_c": ("owner", org("ent_c")),
    }
    stored = await enterprises.get("ent_c")
    assert stored is not None
    await enterprises.begin_delete("ent_c", expected=stored)
    assert list(await enterprises.memberships_with_records("alice")) == ["ent_a", "ent_b"]
    await enterprises.set_member("ent_a", "alice", None, expected_version=2)
    assert list(await enterprises.memberships_with_records("alice")) == ["ent_b"]
    assert await enterprises.memberships_with_records("nobody") == {}


async def test_stale_member_version_conflicts(enterprises: EnterpriseStore) -> None:
    await enterprises.create(org("ent_a"), "alice")
    _, version = await enterprises.members("ent_a")
    await enterprises.set_member("ent_a", "bob", "member", expected_version=version)
    with pytest.raises(Conflict):
        await enterprises.set_member("ent_a", "dave", "admin", expected_version=version)
    with pytest.raises(Conflict):
        await enterprises.set_member("ent_a", "bob", None, expected_version=version)
    assert await enterprises.members("ent_a") == ({"alice": "owner", "bob": "member"}, 2)
    assert await enterprises.memberships_of("dave") == {}
    assert await enterprises.memberships_of("bob") == {"ent_a": "member"}


async def test_ensure_personal_is_exactly_once_under_concurrency(
    enterprises: EnterpriseStore,
) -> None:
    candidates = [
        Enterprise(id=f"ent_p{i}", name=f"Personal {i}", kind="personal", created_at=NOW)
        for i in range(20)
    ]
    results = await asyncio.gather(*(enterprises.ensure_personal("alice", c) for c in candidates))

    winners = {r.id for r in results}
    assert len(winners) == 1
    (winner,) = winners
    assert all(r == results[0] for r in results)
    assert await enterprises.get(winner) == results[0]
    stored = [c.id for c in candidates if await enterprises.get(c.id) is not None]
    assert stored == [winner]
    assert await enterprises.memberships_of("alice") == {winner: "owner"}
    assert await enterprises.members(winner) == ({"alice": "owner"}, 1)

    again = await enterprises.ensure_personal(
        "alice", Enterprise(id="ent_late", name="Late", kind="personal", created_at=NOW)
    )
    assert again == results[0]
    assert await enterprises.get("ent_late") is None
    # Another user gets their own.
    bob = await enterprises.ensure_personal(
        "bob", Enterprise(id="ent_bob", name="Bob", kind="personal", created_at=NOW)
    )
    assert bob.id == "ent_bob"
    assert await enterprises.memberships_of("alice") == {winner: "owner"}


async def test_ensure_personal_returns_a_copy(enterprises: EnterpriseStore) -> None:
    candidate = Enterprise(id="ent_p", name="Mine", kind="personal", created_at=NOW)
    first = await enterprises.ensure_personal("alice", candidate)
    first.name = "mutated"
    candidate.name = "mutated too"
    second = await enterprises.ensure_personal("alice", candidate)
    assert second.name == "Mine"
    assert (await enterprises.get("ent_p")) == second
