"""`/v1/enterprise/mcp-servers`: an enterprise's approved list."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import Body

from gateway.api.controllers._credentials import credential_routes
from gateway.api.idempotency import CreateOnce
from gateway.api.openapi.answers import answers
from gateway.api.pages import Cursor, Limit, Page, paged
from gateway.api.params import EnterpriseServerIdParam, OptionalEnterpriseId
from gateway.api.preconditions import IfMatchHeader, if_match, tagged
from gateway.domain.servers import (
    EnterpriseMCPServer,
    EnterpriseServerCreate,
    EnterpriseServerPatch,
)
from gateway.domain.subjects import Subject
from gateway.services.credentials import CredentialService
from gateway.services.enterprise_servers import EnterpriseServerService, choose_enterprise
from gateway.services.pagination import DEFAULT_LIMIT


class EnterpriseServerPage(Page[EnterpriseMCPServer]):
    items: list[EnterpriseMCPServer]


class EnterpriseServerController(Controller):
    path = "/v1/enterprise/mcp-servers"
    tags = ["enterprise-mcp-servers"]

    @get("/", summary="An enterprise's approved servers (any member)", **answers(404, 422))
    async def list_servers(
        self,
        subject: NamedDependency[Subject],
        enterprise_servers: NamedDependency[EnterpriseServerService],
        enterprise_id: OptionalEnterpriseId = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> EnterpriseServerPage:
        ent = choose_enterprise(subject, enterprise_id)
        return paged(
            EnterpriseServerPage, await enterprise_servers.list(subject, ent), limit, cursor
        )

    @post("/", summary="Approve a server (owners and admins)", **answers(404, 409, 413, 422))
    async def create_server(
        self,
        subject: NamedDependency[Subject],
        enterprise_servers: NamedDependency[EnterpriseServerService],
        create_once: NamedDependency[CreateOnce],
        data: Annotated[EnterpriseServerCreate, Body()],
        enterprise_id: OptionalEnterpriseId = None,
    ) -> Response[EnterpriseMCPServer]:
        ent = choose_enterprise(subject, enterprise_id)

        return await create_once(
            data,
            create=lambda: enterprise_servers.create(subject, ent, data),
            reread=lambda server_id: enterprise_servers.get(subject, server_id),
        )

    @get("/{server_id:str}", **answers(404))
    async def get_server(
        self,
        subject: NamedDependency[Subject],
        enterprise_servers: NamedDependency[EnterpriseServerService],
        server_id: EnterpriseServerIdParam,
    ) -> Response[EnterpriseMCPServer]:
        return tagged(await enterprise_servers.get(subject, server_id))

    @patch("/{server_id:str}", **answers(404, 409, 412, 413, 422))
    async def update_server(
        self,
        subject: NamedDependency[Subject],
        enterprise_servers: NamedDependency[EnterpriseServerService],
        server_id: EnterpriseServerIdParam,
        data: Annotated[EnterpriseServerPatch, Body()],
        if_match_header: IfMatchHeader = None,
    ) -> Response[EnterpriseMCPServer]:
        condition = if_match(if_match_header)
        return tagged(await enterprise_servers.update(subject, server_id, data, if_match=condition))

    @delete("/{server_id:str}", status_code=204, **answers(404, 409, 412, 422))
    async def delete_server(
        self,
        subject: NamedDependency[Subject],
        enterprise_servers: NamedDependency[EnterpriseServerService],
        server_id: EnterpriseServerIdParam,
        if_match_header: IfMatchHeader = None,
    ) -> None:
        await enterprise_servers.delete(subject, server_id, if_match=if_match(if_match_header))


EnterpriseServerCredentialController = credential_routes(
    name="EnterpriseServerCredentialController",
    path="/v1/enterprise/mcp-servers/{server_id:str}",
    tags=["enterprise-mcp-servers"],
    server_id=EnterpriseServerIdParam,
    answer=EnterpriseMCPServer,
    who="owners and admins",
    set_values=CredentialService.set_enterprise,
    remove=CredentialService.delete_enterprise,
)
