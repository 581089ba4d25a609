"""Personal servers and the servers of the merged view (`/v1/mcp-servers`)."""

from __future__ import annotations

import asyncio

import msgspec

from gateway.domain.ids import ENTERPRISE_SERVER_PREFIX, PERSONAL_SERVER_PREFIX, new_id
from gateway.domain.servers import AnyServer, MCPServerConfig, ServerCreate
from gateway.domain.subjects import Subject
from gateway.domain.targets import GLOBAL_ONLY, UpstreamReach
from gateway.policy import inputs
from gateway.policy.decider import Authorizer
from gateway.services.listings import ListingApprovals
from gateway.services.secret_records import CredentialRecords
from gateway.services.server_access import ServerAccess, now
from gateway.services.views import MergedView
from gateway.stores.base import EnterpriseMCPServerStore, MCPServerStore
from gateway.stores.snapshots import ViewSnapshot


class MCPServerService(ServerAccess[AnyServer]):
    actions = "mcp_server"
    noun = "MCP server"
    missing_kind = inputs.MCPServerResource

    def __init__(
        self,
        authorizer: Authorizer,
        personal: MCPServerStore,
        enterprise: EnterpriseMCPServerStore,
        view: MergedView,
        records: CredentialRecords,
        listings: ListingApprovals,
        *,
        upstream_reach: UpstreamReach = GLOBAL_ONLY,
    ) -> None:
        super().__init__(authorizer, records, upstream_reach=upstream_reach)
        self._personal = personal
        self._enterprise = enterprise
        self._view = view
        self._listings = listings

    async def list(self, subject: Subject) -> list[AnyServer]:
        return await self._view.servers(subject)

    async def view(self, subject: Subject) -> ViewSnapshot:
        """The merged view, with what was made from it while it stays current."""
        return await self._view.snapshot(subject)

    async def create(self, subject: Subject, body: ServerCreate) -> MCPServerConfig:
        """Decided on the server exactly as it would be stored (`resource` and `proposed`)."""
        stamp = now()
        server = MCPServerConfig(
            id=new_id(PERSONAL_SERVER_PREFIX),
            user_id=subject.id,
            created_at=stamp,
            updated_at=stamp,
            **msgspec.structs.asdict(body),
        )
        listing, owned = await asyncio.gather(
            self._listings.facts(subject, server.marketplace_listing_id),
            self._personal.count(subject.id),
        )
        proposed = inputs.view_server(server, listing)
        await self._authorizer.require(
            "mcp_server.create",
            subject,
            proposed,
            proposed,
            what="MCP server",
            counts=inputs.Counts(personal_servers=owned),
        )
        self.check_target(server)
        await self._personal.create(server)
        return server

    async def find(self, server_id: str) -> AnyServer | None:
        """The id's prefix routes to the store (ADR-0008 "ID prefix convention")."""
        if server_id.startswith(ENTERPRISE_SERVER_PREFIX):
            return await self._enterprise.get(server_id)
        if server_id.startswith(PERSONAL_SERVER_PREFIX):
            return await self._personal.get(server_id)
        return None

    def resource(
        self, server: AnyServer, listing: inputs.ListingFacts | None = None
    ) -> inputs.Resource:
        return inputs.view_server(server, listing)

    async def listing_of(self, subject: Subject, server: AnyServer) -> inputs.ListingFacts | None:
        if isinstance(server, MCPServerConfig):
            return await self._listings.facts(subject, server.marketplace_listing_id)
        return None
