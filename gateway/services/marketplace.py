"""The marketplace (`/v1/marketplace/servers`): catalog listings seen through the caller.

Each listing carries `installed` (some server in the caller's merged view came from it) and
`allowed`/`reason` (the policy's answer for installing it). Per page that costs one merged
view (cached), one store call for the caller's enterprises' approvals and ONE policy
decision (`data.gateway.marketplace.listings`) however many listings the page holds; an
install asks `data.gateway.authz.decision`, which applies the same Rego rule.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

import msgspec

from gateway.domain.decisions import Reason
from gateway.domain.servers import MCPServerConfig, ServerCreate
from gateway.domain.subjects import Subject
from gateway.errors import Conflict
from gateway.marketplace.catalog import Catalog, Listing, listing_server_fields
from gateway.policy.decider import Authorizer
from gateway.services.servers import MCPServerService
from gateway.services.views import MergedView
from gateway.stores.base import EnterpriseMCPServerFilter, EnterpriseMCPServerStore


class MarketplaceListing(Listing, kw_only=True, frozen=True):
    """A listing as the caller sees it (the response body)."""

    installed: bool
    allowed: bool
    reason: Reason | None = None

    def __post_init__(self) -> None:
        # Built from a listing the catalog loader already validated: nothing to check again.
        return None


def listing_resource(listing_id: str, approved_by: Sequence[str]) -> dict[str, object]:
    """The `resource` of a `marketplace.install` decision."""
    return {"type": "marketplace_listing", "id": listing_id, "approved_by": list(approved_by)}


class MarketplaceService:
    def __init__(
        self,
        catalog: Catalog,
        authorizer: Authorizer,
        view: MergedView,
        enterprise_servers: EnterpriseMCPServerStore,
        servers: MCPServerService,
    ) -> None:
        self._catalog = catalog
        self._authorizer = authorizer
        self._view = view
        self._enterprise_servers = enterprise_servers
        self._servers = servers

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    def search(self, q: str | None = None, category: str | None = None) -> list[Listing]:
        """Matching listings sorted by id (the cursor key); nothing about the caller yet."""
        return self._catalog.search(q, category)

    async def listing(self, subject: Subject, listing_id: str, action: str) -> Listing:
        listing = self._catalog.get(listing_id)
        if listing is None:  # decided and logged like every other lookup, then 404
            await self._authorizer.missing(
                action,
                subject,
                {"type": "marketplace_listing", "id": listing_id},
                what=f"marketplace listing {listing_id}",
            )
        return listing

    async def describe(
        self, subject: Subject, listings: Sequence[Listing]
    ) -> list[MarketplaceListing]:
        """`listings` as `subject` sees them: one view, one store call, one decision."""
        if not listings:
            return []
        installed, approvals = await asyncio.gather(
            self.installed_ids(subject), self.approvals(subject)
        )
        denied = await self._authorizer.listing_denials(
            subject, {item.id: approvals.get(item.id, []) for item in listings}
        )
        return [
            MarketplaceListing(
                **msgspec.structs.asdict(item),
                installed=item.id in installed,
                allowed=item.id not in denied,
                reason=denied.get(item.id),
            )
            for item in listings
        ]

    async def get(self, subject: Subject, listing_id: str) -> MarketplaceListing:
        listing = await self.listing(subject, listing_id, "marketplace.read")
        (described,) = await self.describe(subject, [listing])
        return described

    async def install(self, subject: Subject, listing_id: str) -> MCPServerConfig:
        """A personal server made from the listing, with its `marketplace_listing_id`.

        Two decisions: `marketplace.install` (the enterprises' restrictions), then the
        personal-create decision every new personal server goes through.
        """
        listing = await self.listing(subject, listing_id, "marketplace.install")
        approvals, installed = await asyncio.gather(
            self.approvals(subject), self.installed_ids(subject)
        )
        await self._authorizer.require(
            "marketplace.install",
            subject,
            listing_resource(listing.id, approvals.get(listing.id, [])),
            what=f"marketplace listing {listing.id}",
        )
        if listing.id in installed:
            raise Conflict(
                f"marketplace listing {listing.id} is already in your MCP servers",
                extra={"listing_id": "already installed"},
            )
        body = msgspec.convert(listing_server_fields(listing), ServerCreate)
        return await self._servers.create(subject, body)

    async def installed_ids(self, subject: Subject) -> set[str]:
        """The listing ids of the caller's merged view (personal + auto-enabled enterprise
        servers), in one pass over the (cached) view."""
        return {
            server.marketplace_listing_id
            for server in await self._view.servers(subject)
            if server.marketplace_listing_id is not None
        }

    async def approvals(self, subject: Subject) -> dict[str, list[str]]:
        """listing id -> the caller's enterprises (sorted) that approved it, i.e. have an
        enterprise server from it, auto-enabled or not. One store call."""
        enterprise_ids = sorted(subject.memberships)
        if not enterprise_ids:
            return {}
        servers = await self._enterprise_servers.list(
            EnterpriseMCPServerFilter(enterprise_ids=enterprise_ids)
        )
        approved: defaultdict[str, set[str]] = defaultdict(set)
        for server in servers:
            if server.marketplace_listing_id is not None:
                approved[server.marketplace_listing_id].add(server.enterprise_id)
        return {listing_id: sorted(ents) for listing_id, ents in approved.items()}
