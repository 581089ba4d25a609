"""Every multi-step write either completes or leaves what readers see as it was, with a
Vault or Redis outage injected before EACH of its steps (docs/adr/0041-never-half-written.md).

Real backends only: an OpenBao dev server of this module's own (sealed, or SIGSTOPped, then
unsealed or resumed) and a redis-server of each test's own (SIGKILLed, restarted on the same
port with an fsync-always append-only file, so what it acknowledged survives). The injection
is timing-free: the store object's method is wrapped so the outage starts right before that
step runs, and the step itself then meets the outage. Afterwards the test reads the Redis
records and the Vault secrets, then lets a retry (or the finisher) complete the change."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import hvac
import pytest
import pytest_asyncio
import redis.asyncio as aredis
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.config import Settings
from gateway.domain.enterprises import Enterprise
from gateway.domain.servers import EnterpriseMCPServer, MCPServerConfig
from gateway.errors import BackendUnavailable
from gateway.secrets.base import SecretOwner
from gateway.secrets.vault import VaultSecretStore
from gateway.services.deletions import EnterpriseDeletions
from gateway.services.secret_records import CredentialRecords, secret_owner
from gateway.stores.redis import (
    RedisEnterpriseMCPServerStore,
    RedisEnterpriseStore,
    RedisMCPServerStore,
    redis_client_from_url,
)
from gateway.stores.redis import keys as k
from tests.fixtures.gateway import JWT_SECRET, AppFactory, caller
from tests.fixtures.openbao import OpenBaoServer, run_openbao
from tests.reliability.conftest import DoomedRedis

pytestmark = [pytest.mark.vault, pytest.mark.redis]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MARKS = "mcp-servers/enterprise/.deleting/"


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    """This module's own OpenBao: tests seal and pause it, so never the session's."""
    with run_openbao(tmp_path_factory.mktemp("bao-half-written")) as server:
        yield server


class Outage:
    """One kind of backend failure: `start()` right before a step, `end()` afterwards."""

    def __init__(self, kind: str, bao: OpenBaoServer, redis: DoomedRedis) -> None:
        self.kind, self._bao, self._redis = kind, bao, redis
        self.started = False

    def start(self) -> None:
        self.started = True
        if self.kind == "vault sealed":
            self._bao.client().sys.seal()
        elif self.kind == "vault hung":
            self._bao.pause()
        else:
            self._redis.kill()

    def end(self) -> None:
        if not self.started:
            return
        self.started = False
        if self.kind == "vault sealed":
            self._bao.unseal()
        elif self.kind == "vault hung":
            self._bao.resume()
        else:
            self._redis.restart()


class Parts:
    """One replica's stores and services on the test's Redis and Vault."""

    def __init__(self, redis_url: str, bao: OpenBaoServer) -> None:
        self.client = redis_client_from_url(redis_url)
        self.personal = RedisMCPServerStore(self.client)
        self.enterprise_servers = RedisEnterpriseMCPServerStore(self.client)
        self.enterprises = RedisEnterpriseStore(self.client)
        # A short timeout: a hung Vault costs each test about a second, not ten.
        self.secrets = VaultSecretStore(bao.addr, token=bao.token, timeout=0.5)
        self.records = CredentialRecords(self.secrets, self.personal, self.enterprise_servers)
        self.deletions = EnterpriseDeletions(
            self.enterprises, self.enterprise_servers, self.records
        )

    async def finisher(self) -> None:
        """One round of the background finisher (`EnterpriseDeletions.run`), no grace."""
        await self.deletions.resume_pending(0)
        await self.records.resume_pending(0)


@pytest_asyncio.fixture
async def setup(
    bao: OpenBaoServer, doomed_redis: type[DoomedRedis]
) -> AsyncIterator[tuple[Parts, DoomedRedis]]:
    redis = doomed_redis(persistent=True)
    parts = Parts(redis.url, bao)
    await parts.secrets.start()
    try:
        yield parts, redis
    finally:
        await parts.secrets.aclose()
        await parts.client.aclose()


def before(monkeypatch: pytest.MonkeyPatch, target: object, name: str, outage: Outage) -> None:
    """The outage starts right before the first call of `target.name` (which then meets it)."""
    original: Callable[..., Awaitable[Any]] = getattr(target, name)

    async def injected(*args: Any, **kwargs: Any) -> Any:
        if not outage.started:
            outage.start()
        return await original(*args, **kwargs)

    monkeypatch.setattr(target, name, injected)


def vault_values(bao: OpenBaoServer, owner: SecretOwner) -> dict[str, str]:
    """What Vault holds under the server's prefix, read with a raw client."""
    vault = bao.client()
    prefix = owner.server_prefix()
    try:
        names = vault.secrets.kv.v2.list_secrets(path=prefix, mount_point="secret")["data"]["keys"]
    except hvac.exceptions.InvalidPath:
        return {}
    found = {}
    for name in names:
        secret = vault.secrets.kv.v2.read_secret_version(
            path=prefix + name, mount_point="secret", raise_on_deleted_version=True
        )
        found[name] = secret["data"]["data"]["value"]
    return found


def deletion_marks(bao: OpenBaoServer) -> list[str]:
    try:
        listed = bao.client().secrets.kv.v2.list_secrets(path=MARKS, mount_point="secret")
    except hvac.exceptions.InvalidPath:
        return []
    return list(listed["data"]["keys"])


_counter = iter(range(10**6))


def _unique(prefix: str) -> str:
    return f"{prefix}{next(_counter)}x{datetime.now(UTC).strftime('%H%M%S%f')}"


async def personal_server(parts: Parts, values: dict[str, str]) -> MCPServerConfig:
    server = MCPServerConfig(
        id=_unique("mcp_"),
        user_id="alice",
        name="s",
        transport="stdio",
        command="x",
        env=["A", "B", "C"],
        created_at=T0,
        updated_at=T0,
    )
    await parts.personal.create(server)
    stored = await parts.records.put(server, values)
    assert isinstance(stored, MCPServerConfig)
    return stored


# -- server delete --------------------------------------------------------------------------

# (step, outage): the step of `delete_server` the outage meets, and whether the deletion has
# committed (the record is gone) by then.
SERVER_DELETE_STEPS = [
    ("mark", "vault sealed", False),
    ("mark", "vault hung", False),
    ("record", "redis killed", False),
    ("secrets", "vault sealed", True),
    ("secrets", "vault hung", True),
    ("unmark", "vault sealed", True),
]


@pytest.mark.parametrize(("step", "kind", "commits"), SERVER_DELETE_STEPS)
async def test_a_server_delete_is_all_or_nothing_at_every_step(
    setup: tuple[Parts, DoomedRedis],
    bao: OpenBaoServer,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
    kind: str,
    commits: bool,
) -> None:
    parts, redis = setup
    server = await personal_server(parts, {"A": "a-value", "B": "b-value"})
    owner = secret_owner(server)
    outage = Outage(kind, bao, redis)
    target: object = parts.personal if step == "record" else parts.secrets
    method = {
        "mark": "mark_for_deletion",
        "record": "delete",
        "secrets": "delete_all",
        "unmark": "unmark",
    }[step]
    before(monkeypatch, target, method, outage)
    try:
        if commits:
            await parts.records.delete_server(server)  # done: the rest is the finisher's
        else:
            with pytest.raises(BackendUnavailable):
                await parts.records.delete_server(server)
    finally:
        outage.end()
    assert outage.kind == kind
    monkeypatch.undo()

    stored = await parts.personal.get(server.id)
    if commits:
        # Readers find no server at once; what Vault still holds is unreachable and marked.
        assert stored is None
        if step != "unmark" and kind == "vault sealed":
            assert server.id in deletion_marks(bao)
    else:
        # As it was: the record with its credentials listed, every secret still in Vault.
        assert stored is not None and stored.credentials_set == ["A", "B"]
        assert stored.updated_at == server.updated_at
        assert vault_values(bao, owner) == {"A": "a-value", "B": "b-value"}
        await parts.finisher()  # a mark the failed delete left must not delete anything
        assert vault_values(bao, owner) == {"A": "a-value", "B": "b-value"}
        await parts.records.delete_server(stored)  # the retry
    await parts.finisher()
    assert await parts.personal.get(server.id) is None
    assert vault_values(bao, owner) == {}
    assert server.id not in deletion_marks(bao)


async def test_a_delete_that_fails_over_http_leaves_the_server_as_it_was(
    bao: OpenBaoServer, redis_url: str, start_gateway: AppFactory
) -> None:
    """Finding 1 of issue 13: a 503 DELETE during a Vault outage emptied `credentials_set`
    while the secrets stayed in Vault."""
    client = aredis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()
    app: AsyncTestClient[Litestar] = await start_gateway(
        Settings(
            jwt_secret=JWT_SECRET, redis_url=redis_url, vault_addr=bao.addr, vault_token=bao.token
        )
    )
    alice = caller(app, "alice")
    created = await alice.post(
        "/v1/mcp-servers",
        json={"name": "s", "transport": "stdio", "command": "x", "env": ["TOKEN"]},
    )
    assert created.status_code == 201, created.text
    base = f"/v1/mcp-servers/{created.json()['id']}"
    assert (await alice.put(f"{base}/credentials", json={"values": {"TOKEN": "t0k"}})).is_success
    bao.client().sys.seal()
    try:
        failed = await alice.delete(base)
    finally:
        bao.unseal()
    assert failed.status_code == 503, failed.text
    assert failed.headers["retry-after"] == "1"
    after = await alice.get(base)
    assert after.status_code == 200
    assert after.json()["credentials_set"] == ["TOKEN"]
    owner = SecretOwner.personal("alice", created.json()["id"])
    assert vault_values(bao, owner) == {"TOKEN": "t0k"}
    assert (await alice.get(f"{base}/launch")).json()["env"] == {"TOKEN": "t0k"}
    assert (await alice.delete(base)).status_code == 204
    assert vault_values(bao, owner) == {}


# -- credential PUT -------------------------------------------------------------------------

PUT_STEPS = [
    ("write", "vault sealed"),
    ("write", "vault hung"),
    ("list", "vault sealed"),
    ("reread", "redis killed"),
    ("record", "redis killed"),
]


@pytest.mark.parametrize(("step", "kind"), PUT_STEPS)
async def test_a_credential_put_never_lists_what_it_did_not_finish(
    setup: tuple[Parts, DoomedRedis],
    bao: OpenBaoServer,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
    kind: str,
) -> None:
    """A set is atomic (one record write lists every new name, or none); a value replaced
    in Vault before the outage may show (each name is one atomic Vault write) — and the retry,
    the same PUT, completes it."""
    parts, redis = setup
    server = await personal_server(parts, {"A": "old"})
    owner = secret_owner(server)
    outage = Outage(kind, bao, redis)
    target, method = {
        "write": (parts.secrets, "put_many"),
        "list": (parts.secrets, "list_names"),
        "reread": (parts.personal, "get"),
        "record": (parts.personal, "replace"),
    }[step]
    before(monkeypatch, target, method, outage)
    try:
        with pytest.raises(BackendUnavailable):
            await parts.records.put(server, {"A": "new", "B": "new"})
    finally:
        outage.end()
    monkeypatch.undo()

    stored = await parts.personal.get(server.id)
    assert stored is not None and stored.credentials_set == ["A"]  # B never listed
    assert stored.updated_at == server.updated_at
    held = vault_values(bao, owner)
    if kind == "vault sealed" and step == "write":
        assert held == {"A": "old"}  # nothing written at all
    else:
        assert held.get("A") in {"old", "new"}
    resolved = await parts.records.resolve(stored)
    assert set(resolved) == {"A"}  # readers: only listed names, each with a value
    retried = await parts.records.put(stored, {"A": "new", "B": "new"})
    assert retried.credentials_set == ["A", "B"]
    assert await parts.records.resolve(retried) == {"A": "new", "B": "new"}


# -- enterprise delete ----------------------------------------------------------------------

# (step, outage, hidden): whether the enterprise is already hidden when the outage hits.
ENTERPRISE_DELETE_STEPS = [
    ("intent", "redis killed", False),
    ("hide", "redis killed", False),
    ("server mark", "vault sealed", True),
    ("server record", "redis killed", True),
    ("server secrets", "vault sealed", True),
    ("keys", "redis killed", True),
]


async def _enterprise(parts: Parts) -> tuple[Enterprise, list[EnterpriseMCPServer]]:
    ent = Enterprise(id=_unique("ent_"), name="Acme", kind="organization", created_at=T0)
    await parts.enterprises.create(ent, "alice")
    servers = []
    for _ in range(2):
        server = EnterpriseMCPServer(
            id=_unique("emcp_"),
            enterprise_id=ent.id,
            created_by="alice",
            name="s",
            transport="stdio",
            command="x",
            env=["A"],
            created_at=T0,
            updated_at=T0,
        )
        await parts.enterprise_servers.create(server)
        stored = await parts.records.put(server, {"A": f"secret-of-{server.id}"})
        assert isinstance(stored, EnterpriseMCPServer)
        servers.append(stored)
    return ent, servers


async def _delete_enterprise(parts: Parts, ent: Enterprise) -> None:
    """What `EnterpriseService.delete` does once the policy allowed it."""
    await parts.enterprises.begin_delete(ent.id, expected=ent)
    await parts.deletions.finish(ent.id)


@pytest.mark.parametrize(("step", "kind", "hidden"), ENTERPRISE_DELETE_STEPS)
async def test_an_enterprise_delete_is_as_it_was_or_hidden_and_finished(
    setup: tuple[Parts, DoomedRedis],
    bao: OpenBaoServer,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
    kind: str,
    hidden: bool,
) -> None:
    parts, redis = setup
    ent, servers = await _enterprise(parts)
    outage = Outage(kind, bao, redis)
    target, method = {
        "intent": (parts.enterprises, "begin_delete"),
        # Between the intent (ZADD) and the script that hides the enterprise.
        "hide": (parts.enterprises, "_begin_delete_script"),
        "server mark": (parts.secrets, "mark_for_deletion"),
        "server record": (parts.enterprise_servers, "delete"),
        "server secrets": (parts.secrets, "delete_all"),
        "keys": (parts.enterprises, "finish_delete"),
    }[step]
    before(monkeypatch, target, method, outage)
    try:
        with pytest.raises(BackendUnavailable):
            await _delete_enterprise(parts, ent)
    finally:
        outage.end()
    monkeypatch.undo()

    secrets = {s.id: {"A": f"secret-of-{s.id}"} for s in servers}
    if hidden:
        # Nobody sees the enterprise or its servers any more, whatever is left underneath.
        assert await parts.enterprises.get(ent.id) is None
        assert ent.id not in await parts.enterprises.memberships_with_records("alice")
    else:
        # As it was, and it stays so: a failed delete does not come true later.
        await parts.finisher()
        assert await parts.enterprises.get(ent.id) == ent
        assert ent.id in await parts.enterprises.memberships_with_records("alice")
        for server in servers:
            assert await parts.enterprise_servers.get(server.id) == server
        assert {s.id: vault_values(bao, secret_owner(s)) for s in servers} == secrets
        await _delete_enterprise(parts, ent)  # the retry

    await parts.finisher()
    assert await parts.enterprises.get(ent.id) is None
    for server in servers:
        assert await parts.enterprise_servers.get(server.id) is None
        assert vault_values(bao, secret_owner(server)) == {}
        assert server.id not in deletion_marks(bao)
    left = [key async for key in parts.client.scan_iter(match=f"gw:{{e:{ent.id}}}:*")]
    assert left == []
    assert await parts.client.zscore(k.DELETING, ent.id) is None
