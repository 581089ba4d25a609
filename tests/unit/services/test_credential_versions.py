"""A credential write gives the server's record a new version, even when it only changes
values of names already set: the MCP proxy keys its upstream clients by that version, so
this is what makes a re-PUT (v1 -> v2) reach the next call (issue 21)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.domain.servers import MCPServerConfig
from gateway.secrets.memory import MemorySecretStore
from gateway.services.secret_records import CredentialRecords
from gateway.stores.memory import MemoryEnterpriseMCPServerStore, MemoryMCPServerStore


async def _parts(updated_at: datetime) -> tuple[MemoryMCPServerStore, CredentialRecords]:
    store = MemoryMCPServerStore()
    records = CredentialRecords(MemorySecretStore(), store, MemoryEnterpriseMCPServerStore())
    await store.create(
        MCPServerConfig(
            id="mcp_0a1b2c",
            user_id="alice",
            name="s",
            transport="streamable_http",
            url="https://mcp.example.com/mcp",
            headers={"Authorization": "Bearer ${TOKEN}"},
            env=["TOKEN"],
            created_at=updated_at,
            updated_at=updated_at,
        )
    )
    return store, records


async def test_a_re_put_of_the_same_names_moves_the_version() -> None:
    store, records = await _parts(datetime(2026, 1, 1, tzinfo=UTC))
    first = await records.put(await _get(store), {"TOKEN": "v1"})
    second = await records.put(first, {"TOKEN": "v2"})
    assert first.credentials_set == second.credentials_set == ["TOKEN"]
    assert second.updated_at > first.updated_at
    assert (await _get(store)).updated_at == second.updated_at
    assert await records.resolve(second) == {"TOKEN": "v2"}


async def test_the_version_moves_forward_even_behind_a_fast_clock() -> None:
    """A record written by a replica whose clock runs ahead: the next write is still later."""
    ahead = datetime.now(UTC) + timedelta(hours=1)
    store, records = await _parts(ahead)
    written = await records.put(await _get(store), {"TOKEN": "v1"})
    assert written.updated_at > ahead


async def _get(store: MemoryMCPServerStore) -> MCPServerConfig:
    server = await store.get("mcp_0a1b2c")
    assert server is not None
    return server
