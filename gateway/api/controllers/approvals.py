"""`/v1/approvals`: tool calls waiting for a person's approval, read and decided
(docs/adr/0057-tool-integrity.md)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import Parameter

from gateway.api.openapi.answers import answers
from gateway.api.pages import Cursor, Limit, Page, paged
from gateway.domain.approvals import APPROVAL_ID, Approval
from gateway.domain.subjects import Subject
from gateway.services.approvals import ApprovalService
from gateway.services.pagination import DEFAULT_LIMIT

ApprovalIdParam = Annotated[
    str, Parameter(pattern=APPROVAL_ID, max_length=64, description="approval id")
]


class ApprovalPage(Page[Approval]):
    """The approvals the caller asked for or may decide, by id (oldest first)."""

    items: list[Approval]


class ApprovalController(Controller):
    path = "/v1/approvals"
    tags = ["approvals"]

    @get(
        "/", summary="Approvals you asked for or may decide (policy: approval.read)", **answers(422)
    )
    async def list_approvals(
        self,
        subject: NamedDependency[Subject],
        approvals: NamedDependency[ApprovalService],
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> ApprovalPage:
        return paged(ApprovalPage, await approvals.list(subject), limit, cursor)

    @get("/{approval_id:str}", summary="One approval (policy: approval.read)", **answers(404, 422))
    async def get_approval(
        self,
        subject: NamedDependency[Subject],
        approvals: NamedDependency[ApprovalService],
        approval_id: ApprovalIdParam,
    ) -> Approval:
        return await approvals.get(subject, approval_id)

    @post(
        "/{approval_id:str}/allow",
        status_code=200,
        summary="Allow the call, once (policy: approval.decide)",
        **answers(404, 409, 422),
    )
    async def allow(
        self,
        subject: NamedDependency[Subject],
        approvals: NamedDependency[ApprovalService],
        approval_id: ApprovalIdParam,
    ) -> Approval:
        return await approvals.decide(subject, approval_id, "allowed")

    @post(
        "/{approval_id:str}/refuse",
        status_code=200,
        summary="Refuse the call (policy: approval.decide)",
        **answers(404, 409, 422),
    )
    async def refuse(
        self,
        subject: NamedDependency[Subject],
        approvals: NamedDependency[ApprovalService],
        approval_id: ApprovalIdParam,
    ) -> Approval:
        return await approvals.decide(subject, approval_id, "refused")
