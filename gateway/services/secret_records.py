"""Server records and their secrets, written in an order that survives a failure anywhere.

Vault holds the truth; a server's `credentials_set` is a copy of it, kept on the safe side:
- set: write Vault, then read the record again and record what Vault now lists (always a
  write, so the record's version changes with the values it stands for). A failure in
  between leaves a value stored but not yet listed — never one listed but not stored. If the
  server vanished meanwhile (a concurrent delete), the values are deleted again.
- delete one: drop the name from the record, then delete in Vault. A failure in between
  leaves a secret at its derived path, found and repaired by the next re-derivation.
- delete a server: mark it for deletion in Vault, delete the record (the commit: one atomic
  write, after which readers find no server), then delete every secret under its prefix and
  the mark. Before the commit a failure changes nothing a reader sees (503); after it, the
  mark lets `resume_pending` (every replica, periodically) finish the secrets. Never a server
  whose `credentials_set` was emptied while its secrets stayed (docs/adr/0041).
- launch resolves only the names `credentials_set` lists, so a value left behind by a cut-short
  write or delete is inert: never used, overwritten by the next PUT, deleted with the server.
- change `env`: leftovers of names being added are purged first (so an old value can never
  come back), the record is written with `credentials_set` trimmed, then the secrets of
  removed names are deleted (best effort: unreachable until re-added, and re-adding purges).

Every record write is a compare-and-set on `updated_at`, so two writers cannot lose each
other's change: a stale PATCH is a 409, a credential write re-reads and retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import msgspec

from gateway.domain.servers import AnyServer, MCPServerConfig
from gateway.errors import BackendUnavailable, Conflict, NotFound
from gateway.secrets.base import SecretOwner, SecretStore
from gateway.stores.base import EnterpriseMCPServerStore, MCPServerStore

log = logging.getLogger(__name__)

_RETRIES = 5


def _next_version(previous: datetime) -> datetime:
    """Now, but always later than `previous` (a clock behind another replica's, or two
    writes within one microsecond, must still give the record a new version)."""
    return max(datetime.now(UTC), previous + timedelta(microseconds=1))


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
        self,
        server: AnyServer,
        names_for: Callable[[AnyServer], list[str]],
        *,
        always: bool = False,
    ) -> AnyServer:
        """Set `credentials_set` to `names_for(current record)`, re-reading on a conflict.

        With `always`, the record is written even when the names stay the same: new values
        for names already set change what the server's headers carry, so the record's
        version (`updated_at`, which the MCP proxy keys its upstream clients by) must move
        with them, or an open client would keep sending the old value."""
        current = server
        for _ in range(_RETRIES):
            names = sorted(names_for(current))
            if current.credentials_set == names and not always:
                return current
            updated = msgspec.structs.replace(
                current, credentials_set=names, updated_at=_next_version(current.updated_at)
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

        # Only names this request wrote, and names already listed that Vault still holds: a
        # name deleted meanwhile (record first, then Vault) is never listed again.
        def names_for(current: AnyServer) -> list[str]:
            return [
                n
                for n in current.env
                if n in values or (n in current.credentials_set and n in stored)
            ]

        try:
            # Read again after the Vault write: either this sees the record, so a delete
            # commits after our write and its purge removes it, or it sees the server gone
            # and we take the values back out ourselves. The record is written even when its
            # names stay the same: the values changed, so its version must (`record`).
            return await self.record(await self._load(server), names_for, always=True)
        except NotFound:
            await self.secrets.delete_all(owner)
            raise

    async def resolve(self, server: AnyServer) -> dict[str, str]:
        """The values of the names `credentials_set` lists. A value Vault holds for a name
        not listed (a write or delete a failure cut short) is inert: never launched."""
        return await self.secrets.get_many(secret_owner(server), server.credentials_set)

    async def forget_name(self, server: AnyServer, env_var: str) -> None:
        await self.record(server, lambda s: [n for n in s.credentials_set if n != env_var])
        await self.secrets.delete(secret_owner(server), env_var)

    async def delete_server(self, server: AnyServer) -> None:
        """Mark, record (the commit), secrets. A 503 means nothing readers see changed; once
        the record is gone the deletion is done, and the mark guarantees the secrets follow."""
        owner = secret_owner(server)
        await self.secrets.mark_for_deletion(owner)  # Vault down: 503 before any change
        current = server
        for _ in range(_RETRIES):
            try:
                await self._delete_record(current)  # Redis down: 503, the record stays
            except Conflict:  # changed since read (a credential write): go again on the new one
                try:
                    current = await self._load(current)
                except NotFound:
                    break
                continue
            break
        else:
            raise Conflict(f"MCP server {server.id} keeps changing; retry the delete")
        try:
            await self.purge(owner)
        except BackendUnavailable as exc:
            # Committed: the server is gone and its secrets are unreachable; the mark stays.
            log.warning("secrets of deleted %s stay until Vault is back: %s", server.id, exc.detail)

    async def _delete_record(self, server: AnyServer) -> None:
        if isinstance(server, MCPServerConfig):
            await self._personal.delete(server.id, expected_updated_at=server.updated_at)
        else:
            await self._enterprise.delete(server.id, expected_updated_at=server.updated_at)

    async def purge(self, owner: SecretOwner) -> None:
        """Every secret of the server, then its deletion mark (so a failure keeps the mark)."""
        await self.secrets.delete_all(owner)
        await self.secrets.unmark(owner)

    async def resume_pending(self, older_than_seconds: float) -> list[str]:
        """Finish server deletions whose secrets an outage or a crash left behind; drop the
        marks of deletions that never committed (the record is still there). Returns the
        server ids whose secrets were purged."""
        purged = []
        for owner in await self.secrets.marked_for_deletion(older_than_seconds):
            try:
                if await self._find(owner) is not None:
                    await self.secrets.unmark(owner)
                    continue
                await self.purge(owner)
            except BackendUnavailable as exc:
                log.warning("secrets of deleted %s not purged yet: %s", owner.server_id, exc.detail)
                continue
            purged.append(owner.server_id)
        return purged

    async def _find(self, owner: SecretOwner) -> AnyServer | None:
        if owner.kind == "personal":
            return await self._personal.get(owner.server_id)
        return await self._enterprise.get(owner.server_id)

    async def save_patch(self, old: AnyServer, new: AnyServer) -> None:
        """Write a PATCHed server, keeping its secrets in step with a changed `env`."""
        added = [n for n in new.env if n not in old.env]
        removed = [n for n in old.env if n not in new.env]
        owner = secret_owner(old)
        if added:
            # Purge leftovers of names being added — unless the record moved on (this PATCH
            # would 409 anyway, and a newer writer may have stored those names legitimately).
            if (await self._load(old)).updated_at != old.updated_at:
                raise Conflict(f"MCP server {old.id} changed meanwhile; retry")
            await self._delete_each(owner, added)  # a failure here writes nothing (503)
        new.credentials_set = [n for n in old.credentials_set if n in new.env]
        await self.write(old, new)
        if removed:
            try:
                current = await self._load(new)
                await self._delete_each(owner, [n for n in removed if n not in current.env])
            except (BackendUnavailable, NotFound):
                log.warning(
                    "secrets of names removed from %s's env stay (inert) until re-added", old.id
                )

    async def _delete_each(self, owner: SecretOwner, names: Iterable[str]) -> None:
        for name in names:
            await self.secrets.delete(owner, name)
