"""`/v1/mcp-servers`: the caller's merged view and their personal servers."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import Body

from gateway.api.pages import Cursor, Limit, Page, paged
from gateway.api.params import EnvVarParam, ServerIdParam
from gateway.domain.servers import AnyServer, MCPServerConfig, ServerCreate, ServerPatch
from gateway.domain.subjects import Subject
from gateway.services.credentials import CredentialService, CredentialsPut, LaunchConfig
from gateway.services.pagination import DEFAULT_LIMIT
from gateway.services.servers import MCPServerService


class MCPServerController(Controller):
    path = "/v1/mcp-servers"
    tags = ["mcp-servers"]

    @get("/", summary="The caller's merged view (personal + enterprise auto-enabled)")
    async def list_servers(
        self,
        subject: NamedDependency[Subject],
        servers: NamedDependency[MCPServerService],
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[AnyServer]:
        return paged(await servers.list(subject), limit, cursor)

    @post("/", summary="Install a personal server")
    async def create_server(
        self,
        subject: NamedDependency[Subject],
        servers: NamedDependency[MCPServerService],
        data: Annotated[ServerCreate, Body(description="the server to install")],
    ) -> Response[MCPServerConfig]:
        server = await servers.create(subject, data)
        return Response(
            server, status_code=201, headers={"Location": f"/v1/mcp-servers/{server.id}"}
        )

    @get("/{server_id:str}")
    async def get_server(
        self,
        subject: NamedDependency[Subject],
        servers: NamedDependency[MCPServerService],
        server_id: ServerIdParam,
    ) -> AnyServer:
        return await servers.get(subject, server_id)

    @patch("/{server_id:str}")
    async def update_server(
        self,
        subject: NamedDependency[Subject],
        servers: NamedDependency[MCPServerService],
        server_id: ServerIdParam,
        data: Annotated[ServerPatch, Body(description="fields to change")],
    ) -> AnyServer:
        return await servers.update(subject, server_id, data)

    @delete("/{server_id:str}", status_code=204)
    async def delete_server(
        self,
        subject: NamedDependency[Subject],
        servers: NamedDependency[MCPServerService],
        server_id: ServerIdParam,
    ) -> None:
        await servers.delete(subject, server_id)


class MCPServerCredentialController(Controller):
    """Secrets stay in Vault: responses carry `credentials_set` (names), never values."""

    path = "/v1/mcp-servers/{server_id:str}"
    tags = ["mcp-servers", "credentials"]

    @put("/credentials", summary="Store or replace secret env var values (owner)")
    async def put_credentials(
        self,
        subject: NamedDependency[Subject],
        credentials: NamedDependency[CredentialService],
        server_id: ServerIdParam,
        data: Annotated[CredentialsPut, Body(description='{"values": {"ENV_VAR": "secret"}}')],
    ) -> AnyServer:
        return await credentials.set_personal(subject, server_id, data)

    @delete("/credentials/{env_var:str}", status_code=204, summary="Remove one secret (owner)")
    async def delete_credential(
        self,
        subject: NamedDependency[Subject],
        credentials: NamedDependency[CredentialService],
        server_id: ServerIdParam,
        env_var: EnvVarParam,
    ) -> None:
        await credentials.delete_personal(subject, server_id, env_var)

    @get("/launch", summary="Launch config with secrets resolved (policy: mcp_server.launch)")
    async def launch(
        self,
        subject: NamedDependency[Subject],
        credentials: NamedDependency[CredentialService],
        server_id: ServerIdParam,
    ) -> Response[LaunchConfig]:
        config = await credentials.launch(subject, server_id)
        return Response(config, headers={"Cache-Control": "no-store"})
