"""Server credentials in Vault, one secret per env var (ADR-0008 storage convention).

Vault holds the truth; a server's `credentials_set` is a copy of it, and the write order keeps
the copy on the safe side of a failure:
- set: write Vault, then record what Vault now lists. A failure in between leaves a value
  stored but not yet listed — never one listed but not stored — and the next credential
  operation or launch re-derives the list from Vault.
- delete one: drop the name from the record, then delete in Vault. A failure in between
  leaves a secret at its derived path, found and repaired by the next re-derivation.
- delete a server: empty its `credentials_set`, delete every secret under its prefix, then
  delete the record. If Vault is down, the record stays (503) rather than orphan a secret.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated

import msgspec

from gateway.domain.servers import AnyServer, EnterpriseMCPServer, EnvVarName, MCPServerConfig
from gateway.domain.subjects import Subject
from gateway.errors import InvalidInput, NotFound
from gateway.secrets.base import SecretOwner, SecretStore
from gateway.services.enterprise_servers import EnterpriseServerService
from gateway.services.servers import MCPServerService, now
from gateway.stores.base import EnterpriseMCPServerStore, MCPServerStore

log = logging.getLogger(__name__)

SecretText = Annotated[str, msgspec.Meta(min_length=1, max_length=16384)]


class CredentialsPut(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    values: Annotated[dict[EnvVarName, SecretText], msgspec.Meta(min_length=1, max_length=64)]

    def __repr__(self) -> str:  # the values are secrets
        return f"CredentialsPut(names={sorted(self.values)})"


class LaunchConfig(msgspec.Struct, kw_only=True):
    """What an agent runtime needs to start the server, with its secrets resolved."""

    id: str
    name: str
    source: str
    transport: str
    command: str | None
    args: list[str]
    url: str | None
    env: dict[str, str]
    missing_env: list[str]

    def __repr__(self) -> str:
        return f"LaunchConfig(id={self.id!r}, env_names={sorted(self.env)})"


def secret_owner(server: AnyServer) -> SecretOwner:
    if isinstance(server, MCPServerConfig):
        return SecretOwner(kind="personal", owner_id=server.user_id, server_id=server.id)
    return SecretOwner(kind="enterprise", owner_id=server.enterprise_id, server_id=server.id)


class CredentialRecords:
    """Keeps `credentials_set` a copy of what Vault holds; no policy here (callers decided)."""

    def __init__(
        self,
        secrets: SecretStore,
        personal_store: MCPServerStore,
        enterprise_store: EnterpriseMCPServerStore,
    ) -> None:
        self.secrets = secrets
        self._personal = personal_store
        self._enterprise = enterprise_store

    async def record(self, server: AnyServer, names: list[str]) -> AnyServer:
        if server.credentials_set == names:
            return server
        server.credentials_set = names
        server.updated_at = now()
        if isinstance(server, MCPServerConfig):
            await self._personal.replace(server)
        else:
            await self._enterprise.replace(server)
        return server

    async def forget_server(self, server: AnyServer) -> None:
        """Before a server record is deleted: its secrets go first (see the module doc)."""
        await self.record(server, [])
        await self.secrets.delete_all(secret_owner(server))


class CredentialService:
    def __init__(
        self,
        records: CredentialRecords,
        servers: MCPServerService,
        enterprise_servers: EnterpriseServerService,
    ) -> None:
        self._records = records
        self._secrets = records.secrets
        self._servers = servers
        self._enterprise_servers = enterprise_servers

    async def _record(self, server: AnyServer, names: list[str]) -> AnyServer:
        return await self._records.record(server, names)

    async def _put(self, server: AnyServer, values: Mapping[str, str]) -> AnyServer:
        undeclared = sorted(set(values) - set(server.env))
        if undeclared:
            raise InvalidInput(
                f"{', '.join(undeclared)} not declared in the server's `env`",
                extra={f"values.{name}": "not declared in `env`" for name in undeclared},
            )
        owner = secret_owner(server)
        await self._secrets.put_many(owner, values)
        return await self._record(server, await self._stored_names(server, owner))

    async def _stored_names(self, server: AnyServer, owner: SecretOwner) -> list[str]:
        declared = set(server.env)
        return [n for n in await self._secrets.list_names(owner) if n in declared]

    async def set_personal(
        self, subject: Subject, server_id: str, body: CredentialsPut
    ) -> AnyServer:
        server = await self._servers.authorized(subject, server_id, "mcp_server.credentials.set")
        return await self._put(server, body.values)

    async def set_enterprise(
        self, subject: Subject, server_id: str, body: CredentialsPut
    ) -> EnterpriseMCPServer:
        server = await self._enterprise_servers.authorized(
            subject, server_id, "enterprise_server.credentials.set"
        )
        updated = await self._put(server, body.values)
        assert isinstance(updated, EnterpriseMCPServer)
        return updated

    async def delete_personal(self, subject: Subject, server_id: str, env_var: str) -> None:
        server = await self._servers.authorized(subject, server_id, "mcp_server.credentials.delete")
        await self._delete(server, env_var)

    async def delete_enterprise(self, subject: Subject, server_id: str, env_var: str) -> None:
        server = await self._enterprise_servers.authorized(
            subject, server_id, "enterprise_server.credentials.delete"
        )
        await self._delete(server, env_var)

    async def _delete(self, server: AnyServer, env_var: str) -> None:
        if env_var not in server.env:
            raise NotFound(f"{env_var} is not an env var of {server.id}")
        await self._record(server, [n for n in server.credentials_set if n != env_var])
        await self._secrets.delete(secret_owner(server), env_var)

    async def launch(self, subject: Subject, server_id: str) -> LaunchConfig:
        server = await self._servers.authorized(subject, server_id, "mcp_server.launch")
        owner = secret_owner(server)
        values = await self._secrets.get_many(owner, server.env)
        # Launch reads Vault anyway: repair a `credentials_set` a failure left behind.
        await self._record(server, [n for n in server.env if n in values])
        return LaunchConfig(
            id=server.id,
            name=server.name,
            source="personal" if isinstance(server, MCPServerConfig) else "enterprise",
            transport=server.transport,
            command=server.command,
            args=list(server.args),
            url=server.url,
            env={n: values[n] for n in server.env if n in values},
            missing_env=[n for n in server.env if n not in values],
        )
