"""`/v1/enterprise/mcp-servers`: an enterprise's approved list."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import Body

from gateway.api.idempotency import Created, IdempotencyKeyHeader, create_once
from gateway.api.openapi.answers import answers
from gateway.api.pages import Cursor, Limit, Page, paged
from gateway.api.params import EnterpriseServerIdParam, EnvVarParam, OptionalEnterpriseId
from gateway.api.preconditions import IfMatchHeader, if_match, refuse_if_match, tagged
from gateway.domain.servers import (
    EnterpriseMCPServer,
    EnterpriseServerCreate,
    EnterpriseServerPatch,
)
from gateway.domain.subjects import Subject
from gateway.services.credentials import CredentialService, CredentialsPut
from gateway.services.enterprise_servers import EnterpriseServerService, choose_enterprise
from gateway.services.pagination import DEFAULT_LIMIT
from gateway.stores.idempotency import IdempotencyStore


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
        request: Request[Subject, Any, Any],
        subject: NamedDependency[Subject],
        enterprise_servers: NamedDependency[EnterpriseServerService],
        idempotency_keys: NamedDependency[IdempotencyStore],
        data: Annotated[EnterpriseServerCreate, Body()],
        enterprise_id: OptionalEnterpriseId = None,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[EnterpriseMCPServer]:
        ent = choose_enterprise(subject, enterprise_id)

        async def create() -> Created:
            server = await enterprise_servers.create(subject, ent, data)
            location = f"/v1/enterprise/mcp-servers/{server.id}"
            return Created(value=server, location=location, resource_id=server.id)

        return await create_once(
            keys=idempotency_keys,
            subject=subject,
            request=request,
            header=idempotency_key,
            payload=data,
            create=create,
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

    @put(
        "/{server_id:str}/credentials",
        summary="Store or replace secrets (owners and admins)",
        **answers(404, 412, 413, 422),
    )
    async def put_credentials(
        self,
        subject: NamedDependency[Subject],
        credentials: NamedDependency[CredentialService],
        server_id: EnterpriseServerIdParam,
        data: Annotated[CredentialsPut, Body(description='{"values": {"ENV_VAR": "secret"}}')],
        if_match_header: IfMatchHeader = None,
    ) -> EnterpriseMCPServer:
        refuse_if_match(if_match_header)
        return await credentials.set_enterprise(subject, server_id, data)

    @delete(
        "/{server_id:str}/credentials/{env_var:str}",
        status_code=204,
        summary="Remove one secret (owners and admins)",
        **answers(404, 412, 422),
    )
    async def delete_credential(
        self,
        subject: NamedDependency[Subject],
        credentials: NamedDependency[CredentialService],
        server_id: EnterpriseServerIdParam,
        env_var: EnvVarParam,
        if_match_header: IfMatchHeader = None,
    ) -> None:
        refuse_if_match(if_match_header)
        await credentials.delete_enterprise(subject, server_id, env_var)

    @delete("/{server_id:str}", status_code=204, **answers(404, 409, 412, 422))
    async def delete_server(
        self,
        subject: NamedDependency[Subject],
        enterprise_servers: NamedDependency[EnterpriseServerService],
        server_id: EnterpriseServerIdParam,
        if_match_header: IfMatchHeader = None,
    ) -> None:
        await enterprise_servers.delete(subject, server_id, if_match=if_match(if_match_header))
