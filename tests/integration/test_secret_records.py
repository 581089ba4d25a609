"""Records and secrets stay consistent under races and failures (secret_records.py): no
orphaned secret, no lost update, no credential listed that is not stored, no old value coming
back. On the memory store and on Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aredis

from gateway.domain.servers import MCPServerConfig
from gateway.errors import Conflict, NotFound
from gateway.secrets.memory import MemorySecretStore
from gateway.services.secret_records import CredentialRecords, secret_owner
from gateway.stores.base import MCPServerStore
from gateway.stores.memory import MemoryEnterpriseMCPServerStore, MemoryMCPServerStore
from gateway.stores.redis import RedisEnterpriseMCPServerStore, RedisMCPServerStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


Parts = tuple[MCPServerStore, CredentialRecords, MemorySecretStore]


@pytest.fixture(params=["memory", "redis"])
async def parts(request: pytest.FixtureRequest) -> AsyncIterator[Parts]:
    secrets = MemorySecretStore()
    if request.param == "memory":
        personal: MCPServerStore = MemoryMCPServerStore()
        yield (
            personal,
            CredentialRecords(secrets, personal, MemoryEnterpriseMCPServerStore()),
            secrets,
        )
        return
    client = aredis.from_url(request.getfixturevalue("redis_url"))
    await client.flushdb()
    personal = RedisMCPServerStore(client)
    yield (
        personal,
        CredentialRecords(secrets, personal, RedisEnterpriseMCPServerStore(client)),
        secrets,
    )
    await client.aclose()


async def _server(store: MCPServerStore) -> MCPServerConfig:
    server = MCPServerConfig(
        id="mcp_0a1b2c",
        user_id="alice",
        name="s",
        transport="stdio",
        command="x",
        env=["J", "K"],
        created_at=T0,
        updated_at=T0,
    )
    await store.create(server)
    return server


async def test_a_put_racing_a_delete_leaves_no_orphaned_secret(
    parts: Parts,
) -> None:
    store, records, secrets = parts
    server = await _server(store)
    await store.delete(server.id)  # the delete won the race
    with pytest.raises(NotFound):
        await records.put(server, {"K": "s3cret"})
    assert await secrets.list_names(secret_owner(server)) == []


async def test_a_put_landing_inside_a_delete_leaves_no_orphaned_secret(parts: Parts) -> None:
    """The delete has marked the server for deletion; a PUT lands before the record is
    deleted. The delete must notice (its record changed), go round again, then purge."""
    store, records, secrets = parts
    server = await _server(store)
    mark = secrets.mark_for_deletion
    raced = []

    async def mark_then_race(owner: object) -> None:
        await mark(owner)  # type: ignore[arg-type]
        if not raced:
            raced.append(await records.put(server, {"K": "late"}))

    secrets.mark_for_deletion = mark_then_race  # type: ignore[method-assign]
    await records.delete_server(server)
    assert raced and raced[0].credentials_set == ["K"]  # the race really happened
    assert await store.get(server.id) is None
    assert await secrets.list_names(secret_owner(server)) == []


async def test_a_name_deleted_meanwhile_is_not_listed_again(parts: Parts) -> None:
    store, records, _ = parts
    server = await _server(store)
    with_j = await records.put(server, {"J": "j"})
    # A DELETE of J has dropped it from the record; its Vault delete has not run yet.
    without_j = MCPServerConfig(
        **{**_fields(with_j), "credentials_set": [], "updated_at": T0 + timedelta(seconds=30)}
    )
    await records.write(with_j, without_j)
    result = await records.put(with_j, {"K": "k"})  # read before the delete: stale
    assert result.credentials_set == ["K"]
    stored = await store.get(server.id)
    assert stored is not None and stored.credentials_set == ["K"]


async def test_a_stale_write_is_a_conflict_not_a_lost_update(
    parts: Parts,
) -> None:
    store, records, _ = parts
    server = await _server(store)
    await records.put(server, {"K": "v"})  # changes the record (credentials_set, updated_at)
    stale_patch = MCPServerConfig(
        **{**_fields(server), "name": "renamed", "updated_at": T0 + timedelta(seconds=1)}
    )
    with pytest.raises(Conflict):
        await records.write(server, stale_patch)
    stored = await store.get(server.id)
    assert stored is not None
    assert stored.name == "s" and stored.credentials_set == ["K"]


async def test_credential_writes_reread_on_a_conflict(
    parts: Parts,
) -> None:
    store, records, secrets = parts
    server = await _server(store)
    # Someone renames it after we read `server`; our credential write must keep the rename.
    renamed = MCPServerConfig(
        **{**_fields(server), "name": "renamed", "updated_at": T0 + timedelta(seconds=5)}
    )
    await records.write(server, renamed)
    await records.put(server, {"J": "v"})
    stored = await store.get(server.id)
    assert stored is not None
    assert stored.name == "renamed" and stored.credentials_set == ["J"]
    assert await secrets.get_many(secret_owner(server), ["J"]) == {"J": "v"}


async def test_env_changes_never_bring_an_old_value_back(
    parts: Parts,
) -> None:
    store, records, secrets = parts
    server = await _server(store)
    with_secrets = await records.put(server, {"J": "j", "K": "old"})
    assert with_secrets.credentials_set == ["J", "K"]

    dropped = MCPServerConfig(
        **{**_fields(with_secrets), "env": ["J"], "updated_at": T0 + timedelta(seconds=9)}
    )
    await records.save_patch(with_secrets, dropped)
    assert dropped.credentials_set == ["J"]
    assert await secrets.list_names(secret_owner(server)) == ["J"]

    # A leftover (as if the best-effort delete had failed) is purged when K comes back.
    await secrets.put_many(secret_owner(server), {"K": "old"})
    readded = MCPServerConfig(
        **{**_fields(dropped), "env": ["J", "K"], "updated_at": T0 + timedelta(seconds=10)}
    )
    await records.save_patch(dropped, readded)
    assert readded.credentials_set == ["J"]
    assert await secrets.get_many(secret_owner(server), ["K"]) == {}


def _fields(server: MCPServerConfig) -> dict[str, object]:
    return {f: getattr(server, f) for f in server.__struct_fields__}
