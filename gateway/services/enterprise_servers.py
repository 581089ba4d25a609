"""An enterprise's approved list (`/v1/enterprise/mcp-servers`): read by members, written by
owners and admins — as the policy says."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from gateway.domain.ids import ENTERPRISE_SERVER_PREFIX, new_id
from gateway.domain.servers import (
    EnterpriseMCPServer,
    EnterpriseServerCreate,
    EnterpriseServerPatch,
    patched,
)
from gateway.domain.subjects import Subject
from gateway.errors import InvalidInput
from gateway.policy import inputs
from gateway.policy.decider import Authorizer
from gateway.services.secret_records import CredentialRecords
from gateway.services.servers import now
from gateway.stores.base import EnterpriseMCPServerFilter, EnterpriseMCPServerStore


def choose_enterprise(subject: Subject, enterprise_id: str | None) -> str:
    """`?enterprise_id=` may be left out only when the caller belongs to exactly one."""
    if enterprise_id is not None:
        return enterprise_id
    if len(subject.memberships) == 1:
        return next(iter(subject.memberships))
    why = (
        "you belong to no enterprise"
        if not subject.memberships
        else f"you belong to {len(subject.memberships)} enterprises: name one"
    )
    raise InvalidInput(f"enterprise_id is required: {why}", fields={"enterprise_id": why})


class EnterpriseServerService:
    def __init__(
        self,
        authorizer: Authorizer,
        servers: EnterpriseMCPServerStore,
        records: CredentialRecords,
    ) -> None:
        self._records = records
        self._authorizer = authorizer
        self._servers = servers

    async def list(self, subject: Subject, enterprise_id: str) -> list[EnterpriseMCPServer]:
        await self._authorizer.require(
            "enterprise_server.list",
            subject,
            inputs.EnterpriseServerResource(enterprise_id=enterprise_id),
            what=f"enterprise {enterprise_id}",
        )
        return await self._servers.list(EnterpriseMCPServerFilter(enterprise_ids=[enterprise_id]))

    async def create(
        self, subject: Subject, enterprise_id: str, body: EnterpriseServerCreate
    ) -> EnterpriseMCPServer:
        stamp = now()
        server = EnterpriseMCPServer(
            id=new_id(ENTERPRISE_SERVER_PREFIX),
            enterprise_id=enterprise_id,
            created_by=subject.id,
            created_at=stamp,
            updated_at=stamp,
            **msgspec.structs.asdict(body),
        )
        proposed = inputs.enterprise_server(server)
        await self._authorizer.require(
            "enterprise_server.create",
            subject,
            proposed,
            proposed,
            what=f"enterprise {enterprise_id}",
        )
        await self._servers.create(server)
        return server

    async def load(self, subject: Subject, server_id: str, action: str) -> EnterpriseMCPServer:
        server = await self._servers.get(server_id)
        if server is None:
            await self._authorizer.missing(
                action,
                subject,
                inputs.missing(inputs.EnterpriseServerResource, server_id),
                what=f"enterprise MCP server {server_id}",
            )
        return server

    async def authorized(
        self,
        subject: Subject,
        server_id: str,
        action: str,
        *,
        env_vars: Sequence[str] | None = None,
    ) -> EnterpriseMCPServer:
        server = await self.load(subject, server_id, action)
        await self._authorizer.require(
            action,
            subject,
            inputs.enterprise_server(server),
            what=f"enterprise MCP server {server_id}",
            env_vars=env_vars,
        )
        return server

    async def get(self, subject: Subject, server_id: str) -> EnterpriseMCPServer:
        return await self.authorized(subject, server_id, "enterprise_server.read")

    async def update(
        self, subject: Subject, server_id: str, patch: EnterpriseServerPatch
    ) -> EnterpriseMCPServer:
        action = "enterprise_server.update"
        server = await self.load(subject, server_id, action)
        try:
            updated = patched(server, patch)
        except InvalidInput:
            # Decided first: a 400 must not tell what a 404 hides.
            await self._authorizer.require(
                action,
                subject,
                inputs.enterprise_server(server),
                what=f"enterprise MCP server {server_id}",
            )
            raise
        assert isinstance(updated, EnterpriseMCPServer)
        updated.updated_at = now()
        await self._authorizer.require(
            action,
            subject,
            inputs.enterprise_server(server),
            inputs.enterprise_server(updated),
            what=f"enterprise MCP server {server_id}",
        )
        await self._records.save_patch(server, updated)
        return updated

    async def delete(self, subject: Subject, server_id: str) -> EnterpriseMCPServer:
        server = await self.authorized(subject, server_id, "enterprise_server.delete")
        await self._records.delete_server(server)
        return server
