"""The gateway on a real three-primary Redis Cluster (GATEWAY_REDIS_CLUSTER=true), and the
connection pool: a burst queues for a connection, a wait too long is a 503."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as aredis
from redis.exceptions import MovedError

from gateway.audit.redis_log import RedisDecisionLog
from gateway.domain.enterprises import Invitation
from gateway.errors import BackendUnavailable
from gateway.stores.base import EnterpriseMCPServerFilter, MCPServerFilter
from gateway.stores.redis import (
    RedisEnterpriseMCPServerStore,
    RedisEnterpriseStore,
    RedisMCPServerStore,
    redis_client_from_url,
)
from gateway.stores.redis import keys as k
from gateway.stores.redis.client import RedisClient
from tests.fixtures.entities import NOW, org, personal
from tests.fixtures.redis_server import free_port
from tests.integration.stores.test_redis_layout import exercise_everything

pytestmark = pytest.mark.redis


async def _node_of_every_key(client: aredis.RedisCluster) -> dict[str, str]:
    """key -> the primary (host:port) holding it, over the whole cluster."""
    found: dict[str, str] = {}
    for node in client.get_primaries():
        keys = await client.keys("gw:*", target_nodes=node)  # KEYS: tests only
        found.update({key.decode(): node.name for key in keys})
    return found


async def test_every_store_operation_runs_across_three_primaries(
    redis_cluster3_client: aredis.RedisCluster,
) -> None:
    client = redis_cluster3_client
    await exercise_everything(client)

    # What exercise_everything leaves out: invitations, the roster snapshot (MULTI), the
    # deletion of an enterprise.
    enterprises = RedisEnterpriseStore(client)
    ent_servers = RedisEnterpriseMCPServerStore(client)
    invitation = Invitation(
        enterprise_id="ent_1", user_id="carol", role="admin", invited_by="alice", created_at=NOW
    )
    await enterprises.invite(invitation, expected_version=4)
    assert await enterprises.invitations_of("carol") == {"ent_1": invitation}
    roster = await enterprises.roster("ent_1")
    assert (roster.members, roster.invitations, roster.version) == (
        {"alice": "owner", "bob": "admin"},
        {"carol": invitation},
        5,
    )
    assert await enterprises.accept("ent_1", "carol") == "admin"
    await enterprises.invite(
        Invitation(
            enterprise_id="ent_1", user_id="dave", role="member", invited_by="alice", created_at=NOW
        ),
        expected_version=6,
    )
    await enterprises.decline("ent_1", "dave")
    await enterprises.invite(
        Invitation(
            enterprise_id="ent_1", user_id="erin", role="member", invited_by="alice", created_at=NOW
        ),
        expected_version=8,
    )
    await enterprises.revoke("ent_1", "erin", expected_version=9)
    assert await enterprises.invitations_of("erin") == {}
    assert await enterprises.memberships_of("carol") == {"ent_1": "admin"}

    # dave's slot (11609) is on the third primary (slots 10923-16383); the rest are on the
    # other two: the keys really are spread over all three processes.
    await RedisMCPServerStore(client).create(personal("mcp_9", "dave"))
    nodes = await _node_of_every_key(client)
    assert len(set(nodes.values())) == 3, nodes

    stored = await enterprises.get("ent_1")
    assert stored is not None
    await enterprises.begin_delete("ent_1", expected=stored)
    assert await enterprises.get("ent_1") is None
    assert await enterprises.pending_deletions(-60) == ["ent_1"]
    assert await ent_servers.delete("emcp_1") is not None
    await enterprises.finish_delete("ent_1")
    assert await enterprises.pending_deletions(-60) == []
    assert [key for key in await _node_of_every_key(client) if "{e:ent_1}" in key] == []


async def test_the_decision_log_lives_in_one_slot_of_the_cluster(
    redis_cluster3_client: aredis.RedisCluster,
) -> None:
    from tests.integration.stores.test_decision_log import SIGNER, record

    log = RedisDecisionLog(redis_cluster3_client, max_bytes=65536, signer=SIGNER)
    await log.append([record(i, user=f"user{i % 7}", req_id=f"r{i}") for i in range(400)])
    assert (await log.verify()).ok  # retention ran: 400 records are more than 64 KiB
    nodes = await _node_of_every_key(redis_cluster3_client)
    assert len({node for key, node in nodes.items() if key.startswith(k.AUDIT_TAG)}) == 1


async def test_a_plain_client_cannot_use_a_cluster(redis_cluster3_url: str) -> None:
    """Why the flag exists: without it, keys of the slots other nodes own answer MOVED —
    a 503 (closed), never a wrong answer."""
    plain = redis_client_from_url(redis_cluster3_url)
    try:
        servers = RedisMCPServerStore(plain)
        with pytest.raises(BackendUnavailable) as refused:
            for user in ("alice", "bob", "carol", "dave", "erin"):
                await servers.list(MCPServerFilter(user_id=user))
        assert isinstance(refused.value.__cause__, MovedError)
    finally:
        await plain.aclose()


@pytest_asyncio.fixture
async def down_cluster() -> AsyncIterator[RedisClient]:
    client = redis_client_from_url(f"redis://127.0.0.1:{free_port()}/0", cluster=True)
    try:
        yield client
    finally:
        await client.aclose()


async def test_a_down_cluster_is_backend_unavailable(down_cluster: RedisClient) -> None:
    # The cluster client says so with RedisClusterException, which is not a RedisError.
    servers = RedisMCPServerStore(down_cluster)
    enterprises = RedisEnterpriseStore(down_cluster)
    ent_servers = RedisEnterpriseMCPServerStore(down_cluster)
    started = time.monotonic()
    for call in [
        servers.check(),
        servers.get("mcp_1"),
        servers.list(MCPServerFilter(user_id="alice")),
        servers.create(personal("mcp_1", "alice")),
        ent_servers.list(EnterpriseMCPServerFilter(enterprise_ids=["ent_1"])),
        enterprises.roster("ent_1"),
        enterprises.ensure_personal("alice", org("ent_1")),
        RedisDecisionLog(down_cluster).verify(),
    ]:
        with pytest.raises(BackendUnavailable, match="redis unavailable"):
            await call
    assert time.monotonic() - started < 10


# The connection pool.


@pytest.fixture(params=["redis", "cluster"])
def pool_url(request: pytest.FixtureRequest) -> tuple[str, bool]:
    """A Redis or the cluster (flushed), and whether it is a cluster. The URL names the
    connections so the test can count them on the server."""
    cluster = request.param == "cluster"
    request.getfixturevalue("redis_cluster3_client" if cluster else "single_redis_client")
    url = request.getfixturevalue("redis_cluster3_url" if cluster else "redis_url")
    return f"{url}?client_name=pooltest", cluster


async def _connections_named(client: RedisClient, name: str) -> int:
    if isinstance(client, aredis.RedisCluster):
        per_node = await client.client_list(target_nodes=aredis.RedisCluster.PRIMARIES)
        listed = [c for clients in per_node.values() for c in clients]
    else:
        listed = await client.client_list()
    return sum(1 for c in listed if c.get("name") == name)


async def test_a_burst_queues_for_the_few_connections_there_are(
    pool_url: tuple[str, bool],
) -> None:
    url, cluster = pool_url
    client = redis_client_from_url(url, cluster=cluster, max_connections=2)
    try:
        servers = RedisMCPServerStore(client)
        enterprises = RedisEnterpriseStore(client)
        for i in range(5):
            await servers.create(personal(f"mcp_{i}", f"user{i}"))
        await enterprises.create(org("ent_1"), "user0")
        reads = [servers.get(f"mcp_{i % 5}") for i in range(25)]
        reads += [enterprises.roster("ent_1") for _ in range(10)]  # MULTI
        reads += [servers.list(MCPServerFilter(user_id=None)) for _ in range(15)]  # pipelines
        answers = await asyncio.gather(*reads)
        assert all(answer is not None for answer in answers)
        assert len(answers) == 50
        # At most two connections served the fifty: per node on the cluster, plus the one
        # that discovered the cluster's slots (on the node the URL names).
        most = 3 * 2 + 1 if cluster else 2
        assert 1 <= await _connections_named(client, "pooltest") <= most
    finally:
        await client.aclose()


async def test_waiting_too_long_for_a_connection_is_backend_unavailable(
    pool_url: tuple[str, bool],
) -> None:
    url, cluster = pool_url
    client = redis_client_from_url(url, cluster=cluster, max_connections=1, pool_timeout=0.2)
    try:
        servers = RedisMCPServerStore(client)
        # The only connection is busy for a second (a blocking pop on an empty list).
        busy = asyncio.create_task(client.blpop(["gw:{u:nobody}:queue"], timeout=1))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match="redis unavailable: no connection free"):
            await servers.get("mcp_1")
        assert 0.15 < time.monotonic() - started < 0.8  # the wait, not the busy second
        await busy
        assert await servers.get("mcp_1") is None  # and the connection serves again
    finally:
        await client.aclose()


def test_the_production_pool_is_bounded_and_blocking() -> None:
    client = redis_client_from_url("redis://127.0.0.1:1/0")
    assert isinstance(client, aredis.Redis)
    pool = client.connection_pool
    assert isinstance(pool, aredis.BlockingConnectionPool)
    assert (pool.max_connections, pool.timeout) == (64, 2.0)
    assert pool.connection_kwargs["socket_timeout"] == 2.0
