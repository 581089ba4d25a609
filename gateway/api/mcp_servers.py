"""`/v1/mcp-servers`: the caller's merged view and their personal servers."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import Body

from gateway.api.pages import Cursor, Limit, Page, paged
from gateway.api.params import ServerIdParam
from gateway.domain.servers import AnyServer, MCPServerConfig, ServerCreate, ServerPatch
from gateway.domain.subjects import Subject
from gateway.services.servers import MCPServerService


class MCPServerController(Controller):
    path = "/v1/mcp-servers"
    tags = ["mcp-servers"]

    @get("/", summary="The caller's merged view (personal + enterprise auto-enabled)")
    async def list_servers(
        self, subject: Subject, servers: MCPServerService, limit: Limit, cursor: Cursor
    ) -> Page[AnyServer]:
        return paged(await servers.list(subject), limit, cursor)

    @post("/", summary="Install a personal server")
    async def create_server(
        self,
        subject: Subject,
        servers: MCPServerService,
        data: Annotated[ServerCreate, Body(description="the server to install")],
    ) -> Response[MCPServerConfig]:
        server = await servers.create(subject, data)
        return Response(
            server, status_code=201, headers={"Location": f"/v1/mcp-servers/{server.id}"}
        )

    @get("/{server_id:str}")
    async def get_server(
        self, subject: Subject, servers: MCPServerService, server_id: ServerIdParam
    ) -> AnyServer:
        return await servers.get(subject, server_id)

    @patch("/{server_id:str}")
    async def update_server(
        self,
        subject: Subject,
        servers: MCPServerService,
        server_id: ServerIdParam,
        data: Annotated[ServerPatch, Body(description="fields to change")],
    ) -> AnyServer:
        return await servers.update(subject, server_id, data)

    @delete("/{server_id:str}", status_code=204)
    async def delete_server(
        self, subject: Subject, servers: MCPServerService, server_id: ServerIdParam
    ) -> None:
        await servers.delete(subject, server_id)
