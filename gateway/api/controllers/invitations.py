"""`/v1/invitations`: the caller's pending invitations, to accept or decline."""

from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency

from gateway.api.openapi.answers import answers
from gateway.api.pages import Cursor, Limit, Page, paged
from gateway.api.params import EnterpriseIdParam
from gateway.domain.enterprises import Member, PendingInvitation
from gateway.domain.subjects import Subject
from gateway.services.enterprises import EnterpriseService
from gateway.services.pagination import DEFAULT_LIMIT


class InvitationPage(Page[PendingInvitation]):
    items: list[PendingInvitation]


class InvitationController(Controller):
    path = "/v1/invitations"
    tags = ["invitations"]

    @get("/", summary="The caller's pending invitations", **answers(422))
    async def list_invitations(
        self,
        subject: NamedDependency[Subject],
        enterprises: NamedDependency[EnterpriseService],
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> InvitationPage:
        pending = await enterprises.my_invitations(subject)
        return paged(InvitationPage, pending, limit, cursor, key=lambda i: i.enterprise_id)

    @post(
        "/{enterprise_id:str}/accept",
        status_code=200,
        summary="Accept: become a member with the invited role",
        **answers(404, 409),
    )
    async def accept(
        self,
        subject: NamedDependency[Subject],
        enterprises: NamedDependency[EnterpriseService],
        enterprise_id: EnterpriseIdParam,
    ) -> Member:
        return await enterprises.accept(subject, enterprise_id)

    @delete("/{enterprise_id:str}", status_code=204, summary="Decline", **answers(404, 409))
    async def decline(
        self,
        subject: NamedDependency[Subject],
        enterprises: NamedDependency[EnterpriseService],
        enterprise_id: EnterpriseIdParam,
    ) -> None:
        await enterprises.decline(subject, enterprise_id)
