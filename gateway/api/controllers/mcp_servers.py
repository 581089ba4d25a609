"""`/v1/mcp-servers`: the caller's merged view and their personal servers."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, patch, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.params import Body

from gateway.api.controllers._credentials import credential_routes
from gateway.api.idempotency import CreateOnce
from gateway.api.merged_view import ServerPage, view_page
from gateway.api.openapi.answers import NOT_MODIFIED, answers
from gateway.api.pages import Cursor, Limit
from gateway.api.params import ServerIdParam
from gateway.api.preconditions import (
    IfMatchHeader,
    IfNoneMatchHeader,
    conditional,
    if_match,
    tagged,
)
from gateway.domain.servers import AnyServer, MCPServerConfig, ServerCreate, ServerPatch
from gateway.domain.subjects import Subject
from gateway.services.credentials import CredentialService, LaunchConfig
from gateway.services.pagination import DEFAULT_LIMIT
from gateway.services.servers import MCPServerService


class MCPServerController(Controller):
    path = "/v1/mcp-servers"
    tags = ["mcp-servers"]

    @get(
        "/",
        summary="The caller's merged view (personal + enterprise auto-enabled)",
        response_headers=[
            ResponseHeader(
                name="ETag",
                description="strong: the hash of this page's bytes; send it as If-None-Match",
                documentation_only=True,
            )
        ],
        **answers(422, success={304: NOT_MODIFIED}),
    )
    async def list_servers(
        self,
        subject: NamedDependency[Subject],
        servers: NamedDependency[MCPServerService],
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        if_none_match: IfNoneMatchHeader = None,
    ) -> Response[ServerPage]:
        """With a strong `ETag`; `If-None-Match` holding it is a 304. The page is encoded once
        per version of the view and sent again as bytes while the view stays current."""
        # The edge answers this route itself (gateway/api/edge/view_lane.py) when the request
        # is a plain one; this handler takes the rest (a trailing slash, percent-escapes).
        return conditional(await view_page(servers, subject, limit, cursor), if_none_match)

    @post("/", summary="Install a personal server", **answers(409, 413, 422))
    async def create_server(
        self,
        subject: NamedDependency[Subject],
        servers: NamedDependency[MCPServerService],
        create_once: NamedDependency[CreateOnce],
        data: Annotated[ServerCreate, Body(description="the server to install")],
    ) -> Response[MCPServerConfig]:
        return await create_once(
            data,
            create=lambda: servers.create(subject, data),
            reread=lambda server_id: servers.get(subject, server_id),
        )

    @get("/{server_id:str}", **answers(404))
    async def get_server(
        self,
        subject: NamedDependency[Subject],
        servers: NamedDependency[MCPServerService],
        server_id: ServerIdParam,
    ) -> Response[AnyServer]:
        return tagged(await servers.get(subject, server_id))

    @patch("/{server_id:str}", **answers(404, 409, 412, 413, 422))
    async def update_server(
        self,
        subject: NamedDependency[Subject],
        servers: NamedDependency[MCPServerService],
        server_id: ServerIdParam,
        data: Annotated[ServerPatch, Body(description="fields to change")],
        if_match_header: IfMatchHeader = None,
    ) -> Response[AnyServer]:
        condition = if_match(if_match_header)
        return tagged(await servers.update(subject, server_id, data, if_match=condition))

    @delete("/{server_id:str}", status_code=204, **answers(404, 409, 412, 422))
    async def delete_server(
        self,
        subject: NamedDependency[Subject],
        servers: NamedDependency[MCPServerService],
        server_id: ServerIdParam,
        if_match_header: IfMatchHeader = None,
    ) -> None:
        await servers.delete(subject, server_id, if_match=if_match(if_match_header))


PersonalCredentials = credential_routes(
    name="PersonalCredentials",
    path="/v1/mcp-servers/{server_id:str}",
    tags=["mcp-servers", "credentials"],
    server_id=ServerIdParam,
    answer=AnyServer,
    who="owner",
    set_values=CredentialService.set_personal,
    remove=CredentialService.delete_personal,
)


class MCPServerCredentialController(PersonalCredentials):  # type: ignore[valid-type,misc]
    """Secrets stay in Vault: responses carry `credentials_set` (names), never values."""

    @get(
        "/launch",
        summary="Launch config with secrets resolved (policy: mcp_server.launch)",
        **answers(404),
    )
    async def launch(
        self,
        subject: NamedDependency[Subject],
        credentials: NamedDependency[CredentialService],
        server_id: ServerIdParam,
    ) -> Response[LaunchConfig]:
        config = await credentials.launch(subject, server_id)
        return Response(config, headers={"Cache-Control": "no-store"})
