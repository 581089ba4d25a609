"""`/v1/mcp-servers/{id}/tool-pins`: the tool definitions the gateway pinned for a server,
and the approval of a changed one (docs/adr/0057-tool-integrity.md)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import Body, Parameter

from gateway.api.openapi.answers import answers
from gateway.api.pages import Cursor, Limit, Page, paged
from gateway.api.params import ServerIdParam
from gateway.domain.subjects import Subject
from gateway.domain.tool_pins import TOOL_NAME, PinApproval, ToolPin
from gateway.services.pagination import DEFAULT_LIMIT
from gateway.services.tool_pins import ToolPinService

ToolNameParam = Annotated[
    str, Parameter(pattern=TOOL_NAME, max_length=128, description="the tool's upstream name")
]


class ToolPinPage(Page[ToolPin]):
    """A server's pinned tools by name; `changed` is set on a tool refused until approved."""

    items: list[ToolPin]


class ToolPinController(Controller):
    path = "/v1/mcp-servers/{server_id:str}/tool-pins"
    tags = ["mcp-servers", "tool-pins"]

    @get("/", summary="The server's pinned tools (policy: tool_pin.read)", **answers(404, 422))
    async def list_pins(
        self,
        subject: NamedDependency[Subject],
        tool_pins: NamedDependency[ToolPinService],
        server_id: ServerIdParam,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> ToolPinPage:
        pins = await tool_pins.list(subject, server_id)
        return paged(ToolPinPage, pins, limit, cursor, key=lambda pin: pin.tool)

    @post(
        "/{tool:str}/approve",
        status_code=200,
        summary="Pin a tool's changed definition (policy: tool_pin.approve)",
        **answers(404, 409, 413, 422),
    )
    async def approve_pin(
        self,
        subject: NamedDependency[Subject],
        tool_pins: NamedDependency[ToolPinService],
        server_id: ServerIdParam,
        tool: ToolNameParam,
        data: Annotated[PinApproval, Body(description="the changed definition approved")],
    ) -> ToolPin:
        return await tool_pins.approve(subject, server_id, tool, data.fingerprint)
