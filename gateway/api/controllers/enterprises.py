"""`/v1/enterprises`: the caller's enterprises, their members and invitations."""

from __future__ import annotations

import operator
from typing import Annotated

from litestar import Controller, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import Body

from gateway.api.idempotency import CreateOnce
from gateway.api.openapi.answers import answers
from gateway.api.pages import Cursor, Limit, Page, paged
from gateway.api.params import EnterpriseIdParam, UserIdParam
from gateway.api.preconditions import IfMatchHeader, if_match, tagged
from gateway.domain.enterprises import (
    EnterpriseCreate,
    EnterprisePatch,
    EnterpriseWithRole,
    Member,
    MemberPut,
)
from gateway.domain.subjects import Subject
from gateway.services.enterprises import EnterpriseService
from gateway.services.pagination import DEFAULT_LIMIT


class EnterprisePage(Page[EnterpriseWithRole]):
    items: list[EnterpriseWithRole]


class MemberPage(Page[Member]):
    items: list[Member]


class EnterpriseController(Controller):
    path = "/v1/enterprises"
    tags = ["enterprises"]

    @get("/", summary="The caller's enterprises, each with the caller's membership", **answers(422))
    async def list_enterprises(
        self,
        subject: NamedDependency[Subject],
        enterprises: NamedDependency[EnterpriseService],
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> EnterprisePage:
        return paged(EnterprisePage, await enterprises.list_mine(subject), limit, cursor)

    @post(
        "/",
        summary="Create an organization; the caller becomes its owner",
        **answers(409, 413, 422),
    )
    async def create_enterprise(
        self,
        subject: NamedDependency[Subject],
        enterprises: NamedDependency[EnterpriseService],
        create_once: NamedDependency[CreateOnce],
        data: Annotated[EnterpriseCreate, Body()],
    ) -> Response[EnterpriseWithRole]:
        return await create_once(
            data,
            create=lambda: enterprises.create(subject, data),
            reread=lambda enterprise_id: enterprises.get(subject, enterprise_id),
        )

    @get("/{enterprise_id:str}", **answers(404))
    async def get_enterprise(
        self,
        subject: NamedDependency[Subject],
        enterprises: NamedDependency[EnterpriseService],
        enterprise_id: EnterpriseIdParam,
    ) -> Response[EnterpriseWithRole]:
        return tagged(await enterprises.get(subject, enterprise_id))

    @patch(
        "/{enterprise_id:str}",
        summary="Rename, or change governance settings",
        **answers(404, 409, 412, 413, 422),
    )
    async def update_enterprise(
        self,
        subject: NamedDependency[Subject],
        enterprises: NamedDependency[EnterpriseService],
        enterprise_id: EnterpriseIdParam,
        data: Annotated[EnterprisePatch, Body()],
        if_match_header: IfMatchHeader = None,
    ) -> Response[EnterpriseWithRole]:
        condition = if_match(if_match_header)
        return tagged(await enterprises.update(subject, enterprise_id, data, if_match=condition))

    @delete(
        "/{enterprise_id:str}",
        status_code=204,
        summary="Delete an organization with its servers, secrets, members and invitations",
        **answers(404, 409, 412, 422),
    )
    async def delete_enterprise(
        self,
        subject: NamedDependency[Subject],
        enterprises: NamedDependency[EnterpriseService],
        enterprise_id: EnterpriseIdParam,
        if_match_header: IfMatchHeader = None,
    ) -> None:
        await enterprises.delete(subject, enterprise_id, if_match=if_match(if_match_header))

    @get(
        "/{enterprise_id:str}/members",
        summary="Members (and, for owners and admins, invitees)",
        **answers(404, 422),
    )
    async def list_members(
        self,
        subject: NamedDependency[Subject],
        enterprises: NamedDependency[EnterpriseService],
        enterprise_id: EnterpriseIdParam,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> MemberPage:
        members = await enterprises.members(subject, enterprise_id)
        return paged(MemberPage, members, limit, cursor, key=operator.attrgetter("user_id"))

    @put(
        "/{enterprise_id:str}/members/{user_id:str}",
        summary="Change an active member's role (200), or invite anyone else (202)",
        **answers(
            404,
            409,
            413,
            success={202: ResponseSpec(Member, description="Invited", generate_examples=False)},
        ),
    )
    async def put_member(
        self,
        subject: NamedDependency[Subject],
        enterprises: NamedDependency[EnterpriseService],
        enterprise_id: EnterpriseIdParam,
        user_id: UserIdParam,
        data: Annotated[MemberPut, Body()],
    ) -> Response[Member]:
        member = await enterprises.put_member(subject, enterprise_id, user_id, data.role)
        return Response(member, status_code=200 if member.status == "active" else 202)

    @delete(
        "/{enterprise_id:str}/members/{user_id:str}",
        status_code=204,
        summary="Remove a member (members may remove themselves: leave), or revoke an invitation",
        **answers(404, 409),
    )
    async def remove_member(
        self,
        subject: NamedDependency[Subject],
        enterprises: NamedDependency[EnterpriseService],
        enterprise_id: EnterpriseIdParam,
        user_id: UserIdParam,
    ) -> None:
        await enterprises.remove_member(subject, enterprise_id, user_id)
