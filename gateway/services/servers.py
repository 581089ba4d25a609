"""Personal servers and the servers of the merged view (`/v1/mcp-servers`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec

from gateway.domain.ids import ENTERPRISE_SERVER_PREFIX, PERSONAL_SERVER_PREFIX, new_id
from gateway.domain.servers import (
    AnyServer,
    MCPServerConfig,
    ServerCreate,
    ServerPatch,
    patched,
)
from gateway.domain.subjects import Subject
from gateway.errors import InvalidInput
from gateway.policy import inputs
from gateway.policy.decider import Authorizer
from gateway.services.listings import ListingApprovals
from gateway.services.secret_records import CredentialRecords
from gateway.services.views import MergedView
from gateway.stores.base import EnterpriseMCPServerStore, MCPServerStore


def now() -> datetime:
    return datetime.now(UTC)


class MCPServerService:
    def __init__(
        self,
        authorizer: Authorizer,
        personal: MCPServerStore,
        enterprise: EnterpriseMCPServerStore,
        view: MergedView,
        records: CredentialRecords,
        listings: ListingApprovals,
    ) -> None:
        self._records = records
        self._authorizer = authorizer
        self._personal = personal
        self._enterprise = enterprise
        self._view = view
        self._listings = listings

    async def list(self, subject: Subject) -> list[AnyServer]:
        return await self._view.servers(subject)

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
        listing = await self._listings.facts(subject, server.marketplace_listing_id)
        proposed = inputs.view_server(server, listing)
        await self._authorizer.require(
            "mcp_server.create", subject, proposed, proposed, what="MCP server"
        )
        await self._personal.create(server)
        return server

    async def find(self, server_id: str) -> AnyServer | None:
        """The id's prefix routes to the store (ADR-0008 "ID prefix convention")."""
        if server_id.startswith(ENTERPRISE_SERVER_PREFIX):
            return await self._enterprise.get(server_id)
        if server_id.startswith(PERSONAL_SERVER_PREFIX):
            return await self._personal.get(server_id)
        return None

    async def load(self, subject: Subject, server_id: str, action: str) -> AnyServer:
        """The server, or a decided and logged 404."""
        server = await self.find(server_id)
        if server is None:
            await self._authorizer.missing(
                action,
                subject,
                inputs.missing(inputs.MCPServerResource, server_id),
                what=f"MCP server {server_id}",
            )
        return server

    async def authorized(
        self,
        subject: Subject,
        server_id: str,
        action: str,
        *,
        env_vars: Sequence[str] | None = None,
    ) -> AnyServer:
        server = await self.load(subject, server_id, action)
        await self._authorizer.require(
            action,
            subject,
            inputs.view_server(server),
            what=f"MCP server {server_id}",
            env_vars=env_vars,
        )
        return server

    async def get(self, subject: Subject, server_id: str) -> AnyServer:
        return await self.authorized(subject, server_id, "mcp_server.read")

    async def update(self, subject: Subject, server_id: str, patch: ServerPatch) -> AnyServer:
        action, what = "mcp_server.update", f"MCP server {server_id}"
        server = await self.load(subject, server_id, action)
        try:
            updated = patched(server, patch)
        except InvalidInput:
            # Decided first: a 400 must not tell what a 404 hides.
            await self._authorizer.require(action, subject, inputs.view_server(server), what=what)
            raise
        updated.updated_at = now()
        listing = None
        if isinstance(updated, MCPServerConfig):
            listing = await self._listings.facts(subject, updated.marketplace_listing_id)
        await self._authorizer.require(
            action,
            subject,
            inputs.view_server(server),
            inputs.view_server(updated, listing),
            what=what,
        )
        await self._records.save_patch(server, updated)
        return updated

    async def delete(self, subject: Subject, server_id: str) -> None:
        server = await self.authorized(subject, server_id, "mcp_server.delete")
        await self._records.delete_server(server)
