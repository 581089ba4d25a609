"""Server records and their secrets, written in an order that survives a failure anywhere.

Vault holds the truth; a server's `credentials_set` is a copy of it, kept on the safe side:
- set: write Vault, then record what Vault now lists. A failure in between leaves a value
  stored but not yet listed — never one listed but not stored — and the next credential
  operation or launch re-derives the list from Vault. If the server vanished meanwhile
  (a concurrent delete), the values just written are deleted again.
- delete one: drop the name from the record, then delete in Vault. A failure in between
  leaves a secret at its derived path, found and repaired by the next re-derivation.
- delete a server: empty its `credentials_set`, delete every secret under its prefix, then
  delete the record. If Vault is down, the record stays (503) rather than orphan a secret.
- change `env`: leftovers of names being added are purged first (so an old value can never
  come back), the record is written with `credentials_set` trimmed, then the secrets of
  removed names are deleted (best effort: unreachable until re-added, and re-adding purges).

Every record write is a compare-and-set on `updated_at`, so two writers cannot lose each
other's change: a stale PATCH is a 409, a credential write re-reads and retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import msgspec

from gateway.domain.servers import AnyServer, MCPServerConfig
from gateway.errors import BackendUnavailable, Conflict, NotFound
from gateway.secrets.base import SecretOwner, SecretStore
from gateway.stores.base import EnterpriseMCPServerStore, MCPServerStore

log = logging.getLogger(__name__)

_RETRIES = 5


def secret_owner(server: AnyServer) -> SecretOwner:
    if isinstance(server, MCPServerConfig):
        return SecretOwner(kind="personal", owner_id=server.user_id, server_id=server.id)
    return SecretOwner(kind="enterprise", owner_id=server.enterprise_id, server_id=server.id)


class CredentialRecords:
    """No policy here: callers have decided; this keeps records and Vault consistent."""

    def __init__(
        self,
        secrets: SecretStore,
        personal_store: MCPServerStore,
        enterprise_store: EnterpriseMCPServerStore,
    ) -> None:
        self.secrets = secrets
        self._personal = personal_store
        self._enterprise = enterprise_store

    async def _load(self, server: AnyServer) -> AnyServer:
        fresh: AnyServer | None
        if isinstance(server, MCPServerConfig):
            fresh = await self._personal.get(server.id)
        else:
            fresh = await self._enterprise.get(server.id)
        if fresh is None:
            raise NotFound(f"MCP server {server.id} not found")
        return fresh

    async def write(self, old: AnyServer, new: AnyServer) -> None:
        """Replace `old` by `new` unless someone changed it since `old` was read (409)."""
        if isinstance(new, MCPServerConfig):
            await self._personal.replace(new, expected_updated_at=old.updated_at)
        else:
            await self._enterprise.replace(new, expected_updated_at=old.updated_at)

    async def record(
        self, server: AnyServer, names_for: Callable[[AnyServer], list[str]]
    ) -> AnyServer:
        """Set `credentials_set` to `names_for(current record)`, re-reading on a conflict."""
        current = server
        for _ in range(_RETRIES):
            names = sorted(names_for(current))
            if current.credentials_set == names:
                return current
            updated = msgspec.structs.replace(
                current, credentials_set=names, updated_at=datetime.now(UTC)
            )
            try:
                await self.write(current, updated)
            except Conflict:
                current = await self._load(current)
                continue
            return updated
        raise Conflict(f"MCP server {server.id} keeps changing; retry")

    async def put(self, server: AnyServer, values: dict[str, str]) -> AnyServer:
        owner = secret_owner(server)
        await self.secrets.put_many(owner, values)
        stored = set(await self.secrets.list_names(owner))
        try:
            return await self.record(server, lambda s: [n for n in s.env if n in stored])
        except NotFound:
            # Deleted while we wrote to Vault: take the values back out, leave no orphan.
            await self.secrets.delete_all(owner)
            raise

    async def forget_name(self, server: AnyServer, env_var: str) -> None:
        await self.record(server, lambda s: [n for n in s.credentials_set if n != env_var])
        await self.secrets.delete(secret_owner(server), env_var)

    async def forget_server(self, server: AnyServer) -> None:
        """Before a server record is deleted: its secrets go first."""
        await self.record(server, lambda s: [])
        await self.secrets.delete_all(secret_owner(server))

    async def save_patch(self, old: AnyServer, new: AnyServer) -> None:
        """Write a PATCHed server, keeping its secrets in step with a changed `env`."""
        added = [n for n in new.env if n not in old.env]
        removed = [n for n in old.env if n not in new.env]
        owner = secret_owner(old)
        await self._delete_each(owner, added)  # a failure here writes nothing (503)
        new.credentials_set = [n for n in old.credentials_set if n in new.env]
        await self.write(old, new)
        try:
            await self._delete_each(owner, removed)
        except BackendUnavailable:
            log.warning(
                "secrets of %s removed from %s's env stay until re-added: %s",
                removed,
                old.id,
                "vault unavailable",
            )

    async def _delete_each(self, owner: SecretOwner, names: Iterable[str]) -> None:
        for name in names:
            await self.secrets.delete(owner, name)
