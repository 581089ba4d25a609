"""Server credentials in Vault, one secret per env var (ADR-0008 storage convention).
The write ordering lives in gateway/services/secret_records.py."""

from __future__ import annotations

import logging
from typing import Annotated

import msgspec

from gateway.domain.ids import EnvVarName, whole
from gateway.domain.servers import (
    SENDABLE_HEADER_RULE,
    AnyServer,
    EnterpriseMCPServer,
    MCPServerConfig,
    headers_using,
    sendable_header_value,
)
from gateway.domain.subjects import Subject
from gateway.errors import NotFound, UnprocessableInput
from gateway.services.enterprise_servers import EnterpriseServerService
from gateway.services.secret_records import CredentialRecords
from gateway.services.servers import MCPServerService

log = logging.getLogger(__name__)

# Any text but a NUL, which no process environment can carry (a stdio server gets its values
# as env vars). Line breaks are taken (a PEM key, a JSON service account): a value one of the
# server's headers uses is held to the stricter header rule when it is stored (`_put`).
SecretText = Annotated[
    str, msgspec.Meta(min_length=1, max_length=16384, pattern=whole(r"[^\x00]*"))
]


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

    async def _put(self, server: AnyServer, values: dict[str, str]) -> AnyServer:
        undeclared = sorted(set(values) - set(server.env))
        if undeclared:
            raise UnprocessableInput(
                f"{', '.join(undeclared)} not declared in the server's `env`",
                fields={f"values.{name}": "not declared in `env`" for name in undeclared},
            )
        # Refused here, where the caller can fix it, rather than when the proxy sends it.
        unsendable = {
            name: used
            for name, value in values.items()
            if (used := headers_using(server.headers, name)) and not sendable_header_value(value)
        }
        if unsendable:
            raise UnprocessableInput(
                f"{', '.join(sorted(unsendable))}: used in a header, and {SENDABLE_HEADER_RULE}",
                fields={
                    f"values.{name}": f"used in the header {', '.join(used)}: "
                    + SENDABLE_HEADER_RULE
                    for name, used in unsendable.items()
                },
            )
        return await self._records.put(server, values)

    async def set_personal(
        self, subject: Subject, server_id: str, body: CredentialsPut
    ) -> AnyServer:
        server = await self._servers.authorized(
            subject, server_id, "mcp_server.credentials.set", env_vars=list(body.values)
        )
        return await self._put(server, body.values)

    async def set_enterprise(
        self, subject: Subject, server_id: str, body: CredentialsPut
    ) -> EnterpriseMCPServer:
        server = await self._enterprise_servers.authorized(
            subject, server_id, "enterprise_server.credentials.set", env_vars=list(body.values)
        )
        updated = await self._put(server, body.values)
        assert isinstance(updated, EnterpriseMCPServer)
        return updated

    async def delete_personal(self, subject: Subject, server_id: str, env_var: str) -> None:
        server = await self._servers.authorized(
            subject, server_id, "mcp_server.credentials.delete", env_vars=[env_var]
        )
        await self._delete(server, env_var)

    async def delete_enterprise(self, subject: Subject, server_id: str, env_var: str) -> None:
        server = await self._enterprise_servers.authorized(
            subject, server_id, "enterprise_server.credentials.delete", env_vars=[env_var]
        )
        await self._delete(server, env_var)

    async def _delete(self, server: AnyServer, env_var: str) -> None:
        if env_var not in server.env:
            raise NotFound(f"{env_var} is not an env var of {server.id}")
        await self._records.forget_name(server, env_var)

    async def values_for(self, server: AnyServer) -> dict[str, str]:
        """The secret values `launch` resolves, for a caller that has already decided on the
        server (the MCP proxy, which sends them upstream as the server's headers)."""
        return await self._records.resolve(server)

    async def launch(self, subject: Subject, server_id: str) -> LaunchConfig:
        server = await self._servers.authorized(subject, server_id, "mcp_server.launch")
        values = await self._records.resolve(server)
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
