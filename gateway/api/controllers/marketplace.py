"""`/v1/marketplace/servers`: the catalog, with `installed` and `allowed` for the caller."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Parameter

from gateway.api.openapi.answers import answers
from gateway.api.pages import Cursor, Limit, Page, paged
from gateway.api.params import ListingIdParam
from gateway.domain.servers import MCPServerConfig
from gateway.domain.subjects import Subject
from gateway.marketplace.catalog import Category
from gateway.services.marketplace import MarketplaceListing, MarketplaceService
from gateway.services.pagination import DEFAULT_LIMIT

Query = Annotated[
    str | None,
    Parameter(max_length=200, description="text searched for in names and descriptions"),
]
CategoryParam = Annotated[
    Category | None, Parameter(description="listings in exactly this category")
]


class ListingPage(Page[MarketplaceListing]):
    items: list[MarketplaceListing]


class MarketplaceController(Controller):
    path = "/v1/marketplace/servers"
    tags = ["marketplace"]

    @get(
        "/",
        summary="Catalog listings, each with `installed` and `allowed` for the caller",
        **answers(422),
    )
    async def list_listings(
        self,
        subject: NamedDependency[Subject],
        marketplace: NamedDependency[MarketplaceService],
        q: Query = None,
        category: CategoryParam = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> ListingPage:
        # Page first, so the caller-specific part (one decision) covers only this page.
        page = paged(ListingPage, marketplace.search(q, category), limit, cursor)
        return ListingPage(
            items=await marketplace.describe(subject, page.items), next_cursor=page.next_cursor
        )

    @get("/{listing_id:str}", **answers(404))
    async def get_listing(
        self,
        subject: NamedDependency[Subject],
        marketplace: NamedDependency[MarketplaceService],
        listing_id: ListingIdParam,
    ) -> MarketplaceListing:
        return await marketplace.get(subject, listing_id)

    @post(
        "/{listing_id:str}/install",
        summary="Install a listing as a personal server",
        **answers(404, 409, 422),
    )
    async def install_listing(
        self,
        subject: NamedDependency[Subject],
        marketplace: NamedDependency[MarketplaceService],
        listing_id: ListingIdParam,
    ) -> Response[MCPServerConfig]:
        server = await marketplace.install(subject, listing_id)
        return Response(
            server, status_code=201, headers={"Location": f"/v1/mcp-servers/{server.id}"}
        )
