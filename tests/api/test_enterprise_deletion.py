"""Deleting an organization removes its servers, their secrets (in a real OpenBao), its
members and invitations; a personal enterprise cannot be deleted; and a deletion cut short
(the process dies after the enterprise was hidden) is finished by the next replica."""

from __future__ import annotations

import asyncio

import hvac
import msgspec
import pytest
import pytest_asyncio
import redis.asyncio as aredis
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.config import Settings
from gateway.errors import NotFound
from gateway.services.deletions import EnterpriseDeletions
from gateway.stores.redis import RedisEnterpriseStore, redis_client_from_url
from gateway.stores.redis import keys as k
from gateway.wiring import open_runtime
from tests.fixtures.gateway import JWT_SECRET, AppFactory, caller, join
from tests.fixtures.openbao import OpenBaoServer

pytestmark = [pytest.mark.vault, pytest.mark.redis]

SERVER = {
    "name": "github",
    "transport": "stdio",
    "command": "docker",
    "args": ["run", "-i", "--rm", "ghcr.io/github/github-mcp-server"],
    "env": ["GITHUB_PERSONAL_ACCESS_TOKEN"],
    "auto_enabled": True,
}
SECRET = "ghp_enterpriseSecretToDelete_1234"


@pytest_asyncio.fixture
async def settings(openbao: OpenBaoServer, redis_url: str) -> Settings:
    client = aredis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()
    return Settings(
        jwt_secret=JWT_SECRET,
        redis_url=redis_url,
        vault_addr=openbao.addr,
        vault_token=openbao.token,
    )


def _secret_paths(vault: hvac.Client, enterprise_id: str) -> list[str]:
    try:
        listed = vault.secrets.kv.v2.list_secrets(
            path=f"mcp-servers/enterprise/{enterprise_id}/", mount_point="secret"
        )
    except hvac.exceptions.InvalidPath:
        return []
    return list(listed["data"]["keys"])


async def _populated(app: AsyncTestClient[Litestar]) -> tuple[str, list[str]]:
    """Acme: owner alice, member bob, invitee carol, two servers with a secret each."""
    alice, bob = caller(app, "alice"), caller(app, "bob")
    ent = (await alice.post("/v1/enterprises", json={"name": "Acme"})).json()["id"]
    await join(alice, bob, ent, "member")
    await alice.put(f"/v1/enterprises/{ent}/members/carol", json={"role": "member"})
    servers = []
    for name in ("github", "github-2"):
        created = await alice.post(
            f"/v1/enterprise/mcp-servers?enterprise_id={ent}", json={**SERVER, "name": name}
        )
        server_id = created.json()["id"]
        put = await alice.put(
            f"/v1/enterprise/mcp-servers/{server_id}/credentials",
            json={"values": {"GITHUB_PERSONAL_ACCESS_TOKEN": SECRET}},
        )
        assert put.status_code == 200, put.text
        servers.append(server_id)
    return ent, servers


async def _assert_gone(
    app: AsyncTestClient[Litestar], vault: hvac.Client, redis_url: str, ent: str, servers: list[str]
) -> None:
    alice, bob, carol = caller(app, "alice"), caller(app, "bob"), caller(app, "carol")
    assert (await alice.get(f"/v1/enterprises/{ent}")).status_code == 404
    assert (await alice.get("/v1/enterprises")).json()["items"] == []
    assert (await bob.get("/v1/enterprises")).json()["items"] == []
    assert (await bob.get("/v1/mcp-servers")).json()["items"] == []
    assert (await carol.get("/v1/invitations")).json()["items"] == []
    assert (await carol.post(f"/v1/invitations/{ent}/accept")).status_code == 404
    for server_id in servers:
        assert (await alice.get(f"/v1/enterprise/mcp-servers/{server_id}")).status_code == 404
    assert _secret_paths(vault, ent) == []
    client = aredis.from_url(redis_url)
    try:
        left = [key async for key in client.scan_iter(match=f"gw:{{e:{ent}}}*")]
        assert left == []
        assert await client.zrange(k.DELETING, 0, -1) == []
    finally:
        await client.aclose()


async def test_an_owner_deletes_an_organization_with_everything_in_it(
    settings: Settings, start_gateway: AppFactory, openbao: OpenBaoServer, redis_url: str
) -> None:
    app = await start_gateway(settings)
    vault = openbao.client()
    ent, servers = await _populated(app)
    assert len(_secret_paths(vault, ent)) == 2

    # Admins and members may not; the owner may.
    await caller(app, "alice").put(f"/v1/enterprises/{ent}/members/bob", json={"role": "admin"})
    denied = await caller(app, "bob").delete(f"/v1/enterprises/{ent}")
    assert denied.status_code == 403 and denied.json()["reasons"][0]["code"] == "role_required"
    assert (await caller(app, "mallory").delete(f"/v1/enterprises/{ent}")).status_code == 404

    deleted = await caller(app, "alice").delete(f"/v1/enterprises/{ent}")
    assert deleted.status_code == 204, deleted.text
    await _assert_gone(app, vault, redis_url, ent, servers)
    assert (await caller(app, "alice").delete(f"/v1/enterprises/{ent}")).status_code == 404


async def test_a_personal_enterprise_cannot_be_deleted(
    settings: Settings, start_gateway: AppFactory
) -> None:
    app = await start_gateway(settings)
    gina = caller(app, "gina", email="gina@gmail.com")
    (personal,) = (await gina.get("/v1/enterprises")).json()["items"]
    refused = await gina.delete(f"/v1/enterprises/{personal['id']}")
    assert refused.status_code == 403
    assert refused.json()["reasons"][0]["code"] == "personal_enterprise"
    assert (await gina.get(f"/v1/enterprises/{personal['id']}")).status_code == 200


async def test_a_deletion_cut_short_is_hidden_at_once_and_finished_later(
    settings: Settings, start_gateway: AppFactory, openbao: OpenBaoServer, redis_url: str
) -> None:
    """The request hid the enterprise, then the process died before removing anything."""
    app = await start_gateway(settings)
    vault = openbao.client()
    ent, servers = await _populated(app)
    crashing = await open_runtime(settings)  # another replica, whose request dies midway
    try:
        enterprise = await crashing.stores.enterprises.get(ent)
        assert enterprise is not None
        await crashing.stores.enterprises.begin_delete(ent, expected=enterprise)
        # Already invisible to everyone, though its servers and secrets are still stored...
        assert await crashing.stores.enterprise_servers.get(servers[0]) is not None
        # ...and nothing new can be filed under it meanwhile.
        with pytest.raises(NotFound):
            await crashing.stores.enterprise_servers.create(
                msgspec.structs.replace(
                    await crashing.stores.enterprise_servers.get(servers[0]), id="emcp_1late"
                )
            )
    finally:
        await crashing.aclose()
    assert (await caller(app, "bob").get("/v1/mcp-servers")).json()["items"] == []
    assert (await caller(app, "alice").get(f"/v1/enterprises/{ent}")).status_code == 404
    assert (await caller(app, "alice").delete(f"/v1/enterprises/{ent}")).status_code == 404
    assert len(_secret_paths(vault, ent)) == 2

    # A replica starting later finishes it (the grace period is for in-flight requests).
    other = await open_runtime(settings)
    try:
        assert await other.services.deletions.resume_pending(older_than_seconds=0) == [ent]
        assert await other.services.deletions.resume_pending(older_than_seconds=0) == []
    finally:
        await other.aclose()
    await _assert_gone(app, vault, redis_url, ent, servers)


@pytest.mark.parametrize("delay", [0.0, 0.0005, 0.001, 0.002, 0.005])
async def test_the_finisher_stops_when_cancelled_mid_redis_call(
    redis_url: str, delay: float
) -> None:
    """redis-py turns a cancellation during connect into a connection error; the finisher
    must still stop, or the gateway's shutdown waits a whole interval."""
    client = redis_client_from_url(redis_url)
    try:
        deletions = EnterpriseDeletions(RedisEnterpriseStore(client), None, None)  # type: ignore[arg-type]
        task = asyncio.create_task(deletions.run(interval_seconds=60))
        await asyncio.sleep(delay)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)
    finally:
        await client.aclose()
