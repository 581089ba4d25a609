"""An enterprise's approved list (`/v1/enterprise/mcp-servers`): read by members, written by
owners and admins — as the policy says."""

from __future__ import annotations

import msgspec

from gateway.domain.ids import ENTERPRISE_SERVER_PREFIX, new_id
from gateway.domain.servers import (
    EnterpriseMCPServer,
    EnterpriseServerCreate,
)
from gateway.domain.subjects import Subject
from gateway.domain.targets import GLOBAL_ONLY, UpstreamReach
from gateway.errors import UnprocessableInput
from gateway.policy import inputs
from gateway.policy.decider import Authorizer
from gateway.services.secret_records import CredentialRecords
from gateway.services.server_access import ServerAccess, now
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
    raise UnprocessableInput(f"enterprise_id is required: {why}", fields={"enterprise_id": why})


class EnterpriseServerService(ServerAccess[EnterpriseMCPServer]):
    actions = "enterprise_server"
    noun = "enterprise MCP server"
    missing_kind = inputs.EnterpriseServerResource

    def __init__(
        self,
        authorizer: Authorizer,
        servers: EnterpriseMCPServerStore,
        records: CredentialRecords,
        *,
        upstream_reach: UpstreamReach = GLOBAL_ONLY,
    ) -> None:
        super().__init__(authorizer, records, upstream_reach=upstream_reach)
        self._servers = servers

    async def find(self, server_id: str) -> EnterpriseMCPServer | None:
        return await self._servers.get(server_id)

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
            counts=inputs.Counts(enterprise_servers=await self._servers.count(enterprise_id)),
        )
        self.check_target(server)
        await self._servers.create(server)
        return server

    def resource(
        self, server: EnterpriseMCPServer, listing: inputs.ListingFacts | None = None
    ) -> inputs.Resource:
        return inputs.enterprise_server(server)
