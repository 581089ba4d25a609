"""The caller's merged view as one page of bytes: what `GET /v1/mcp-servers` answers, from
its controller (gateway/api/controllers/mcp_servers.py) and from the edge's lane for it
(gateway/api/edge/view_lane.py) alike."""

from __future__ import annotations

from gateway.api.pages import Page, paged
from gateway.api.preconditions import Encoded
from gateway.domain.servers import AnyServer
from gateway.domain.subjects import Subject
from gateway.services.servers import MCPServerService


class ServerPage(Page[AnyServer]):
    """The merged view: personal servers and the enterprises' auto-enabled ones."""

    items: list[AnyServer]


async def view_page(
    servers: MCPServerService, subject: Subject, limit: int, cursor: str | None
) -> Encoded:
    """The page, encoded once per version of the view (sent again as bytes while the view
    stays current), with its strong ETag."""
    view = await servers.view(subject)
    return view.made(
        ("page", limit, cursor),
        lambda: Encoded(paged(ServerPage, view.items, limit, cursor)),
    )
