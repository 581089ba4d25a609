"""What the policy needs to know about a marketplace listing a personal server names: the
catalog entry and which of the caller's enterprises approved it (have an enterprise server
made from it, auto-enabled or not)."""

from __future__ import annotations

from collections import defaultdict

from gateway.domain.subjects import Subject
from gateway.marketplace.catalog import Catalog, launch_fields
from gateway.policy.inputs import ListingFacts, listing_facts
from gateway.stores.base import EnterpriseMCPServerFilter, EnterpriseMCPServerStore


class ListingApprovals:
    def __init__(self, catalog: Catalog, enterprise_servers: EnterpriseMCPServerStore) -> None:
        self.catalog = catalog
        self._enterprise_servers = enterprise_servers

    async def approvals(self, subject: Subject) -> dict[str, list[str]]:
        """listing id -> the caller's enterprises (sorted) that approved it. One store call."""
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

    async def facts(self, subject: Subject, listing_id: str | None) -> ListingFacts | None:
        if listing_id is None:
            return None
        listing = self.catalog.get(listing_id)
        launch = None if listing is None else launch_fields(listing)
        return listing_facts(listing_id, launch, await self.approvals(subject))
