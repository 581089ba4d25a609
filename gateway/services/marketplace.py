"""The marketplace (`/v1/marketplace/servers`): catalog listings seen through the caller.

Each listing carries `installed` (some server in the caller's merged view came from it) and
`allowed`/`reason`: the very `marketplace.install` decision an install of it would get, for a
whole page in one evaluation (`data.gateway.marketplace.listings`). Per page that costs one
merged view (cached), one store call for the caller's enterprises' approvals and ONE policy
evaluation however many listings the page holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Annotated

import msgspec

from gateway.domain.decisions import Reason
from gateway.domain.ids import EnvVarName
from gateway.domain.servers import Arg, MCPServerConfig, ServerCreate
from gateway.domain.subjects import Subject
from gateway.errors import Conflict
from gateway.marketplace.catalog import (
    Catalog,
    Category,
    Listing,
    launch_fields,
    listing_server_fields,
)
from gateway.policy import inputs
from gateway.policy.decider import Authorizer
from gateway.services.listings import ListingApprovals
from gateway.services.servers import MCPServerService
from gateway.services.views import MergedView


class MarketplaceListing(Listing, kw_only=True, frozen=True):
    """A listing as the caller sees it (the response body)."""

    # Lists, not the catalog's tuples: Litestar documents a `tuple[X, ...]` item as
    # `oneOf: [X, {}]`, which every X matches twice, so no response could conform. (The
    # values stay the catalog's tuples; both encode as arrays.)
    categories: Annotated[list[Category], msgspec.Meta(min_length=1, max_length=8)]  # type: ignore[assignment]
    args: Annotated[list[Arg], msgspec.Meta(max_length=64)] = msgspec.field(  # type: ignore[assignment]
        default_factory=list
    )
    env: Annotated[list[EnvVarName], msgspec.Meta(max_length=64)] = msgspec.field(  # type: ignore[assignment]
        default_factory=list
    )
    installed: bool
    allowed: bool
    reason: Reason | None = None

    def __post_init__(self) -> None:
        # Built from a listing the catalog loader already validated: nothing to check again.
        return None


def install_item(
    subject: Subject, listing: Listing, approvals: Mapping[str, Sequence[str]]
) -> inputs.ListingItem:
    """The `resource` (the listing) and `proposed` (the personal server an install creates,
    before it has an id) of a `marketplace.install` decision: the same for the listings page
    and for the install, so the two cannot disagree."""
    launch = launch_fields(listing)
    facts = inputs.listing_facts(listing.id, launch, approvals)
    return inputs.ListingItem(
        resource=inputs.MarketplaceListingResource(
            id=listing.id,
            name=listing.name,
            publisher=listing.publisher,
            categories=list(listing.categories),
            approved_by=facts.approved_by,
            **launch,
        ),
        proposed=inputs.MCPServerResource(
            **listing_server_fields(listing),
            enabled=True,
            source="personal",
            user_id=subject.id,
            listing=facts,
        ),
    )


class MarketplaceService:
    def __init__(
        self,
        authorizer: Authorizer,
        view: MergedView,
        listings: ListingApprovals,
        servers: MCPServerService,
    ) -> None:
        self._authorizer = authorizer
        self._view = view
        self._listings = listings
        self._servers = servers

    @property
    def catalog(self) -> Catalog:
        return self._listings.catalog

    def search(self, q: str | None = None, category: str | None = None) -> list[Listing]:
        """Matching listings sorted by id (the cursor key); nothing about the caller yet."""
        return self.catalog.search(q, category)

    async def listing(self, subject: Subject, listing_id: str, action: str) -> Listing:
        listing = self.catalog.get(listing_id)
        if listing is None:  # decided and logged like every other lookup, then 404
            await self._authorizer.missing(
                action,
                subject,
                inputs.missing(inputs.MarketplaceListingResource, listing_id),
                what=f"marketplace listing {listing_id}",
            )
        return listing

    async def describe(
        self,
        subject: Subject,
        listings: Sequence[Listing],
        approvals: Mapping[str, Sequence[str]] | None = None,
    ) -> list[MarketplaceListing]:
        """`listings` as `subject` sees them: one view, one store call, one evaluation."""
        if not listings:
            return []
        approved: Mapping[str, Sequence[str]]
        if approvals is None:
            installed, approved = await asyncio.gather(
                self.installed_ids(subject), self._listings.approvals(subject)
            )
        else:
            installed, approved = await self.installed_ids(subject), approvals
        decisions = await self._authorizer.install_decisions(
            subject, [install_item(subject, item, approved) for item in listings]
        )
        described = []
        for item in listings:
            decision = decisions[item.id]
            allowed = decision.allow and decision.visible
            described.append(
                MarketplaceListing(
                    **msgspec.structs.asdict(item),
                    installed=item.id in installed,
                    allowed=allowed,
                    reason=None if allowed or not decision.reasons else decision.reasons[0],
                )
            )
        return described

    async def get(self, subject: Subject, listing_id: str) -> MarketplaceListing:
        listing = await self.listing(subject, listing_id, "marketplace.read")
        approvals = await self._listings.approvals(subject)
        item = install_item(subject, listing, approvals)
        await self._authorizer.require(
            "marketplace.read", subject, item.resource, what=f"marketplace listing {listing_id}"
        )
        (described,) = await self.describe(subject, [listing], approvals)
        return described

    async def install(self, subject: Subject, listing_id: str) -> MCPServerConfig:
        """A personal server made from the listing, with its `marketplace_listing_id`.

        Two decisions: `marketplace.install` (what the listings page shows), then the
        `mcp_server.create` every new personal server goes through.
        """
        listing = await self.listing(subject, listing_id, "marketplace.install")
        approvals, installed = await asyncio.gather(
            self._listings.approvals(subject), self.installed_ids(subject)
        )
        item = install_item(subject, listing, approvals)
        await self._authorizer.require(
            "marketplace.install",
            subject,
            item.resource,
            item.proposed,
            what=f"marketplace listing {listing.id}",
        )
        if listing.id in installed:
            raise Conflict(f"marketplace listing {listing.id} is already in your MCP servers")
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
