"""A server's pinned tools, read and approved through `/v1/mcp-servers/{id}/tool-pins`
(docs/adr/0057-tool-integrity.md). Who may read (`tool_pin.read`) and approve
(`tool_pin.approve`) is the policy's answer; the approval's decision is in the log with
the tool, the pinned fingerprint and the approved one in its input."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.domain.servers import AnyServer
from gateway.domain.subjects import Subject
from gateway.domain.tool_pins import ToolDefinition, ToolPin
from gateway.errors import Conflict, NotFound
from gateway.policy import inputs
from gateway.policy.decider import Authorizer
from gateway.services.servers import MCPServerService
from gateway.stores.tool_pins import ToolPinStore

TOOL_PIN_READ = "tool_pin.read"
TOOL_PIN_APPROVE = "tool_pin.approve"


class ToolPinService:
    def __init__(
        self, authorizer: Authorizer, servers: MCPServerService, store: ToolPinStore
    ) -> None:
        self._authorizer = authorizer
        self._servers = servers
        self._store = store

    async def list(self, subject: Subject, server_id: str) -> list[ToolPin]:
        """The server's pins by tool name; those with a change awaiting approval say so."""
        server = await self._servers.authorized(subject, server_id, TOOL_PIN_READ)
        pins = await self._store.all(server.id)
        return [pins[name] for name in sorted(pins)]

    async def approve(
        self, subject: Subject, server_id: str, tool: str, fingerprint: str
    ) -> ToolPin:
        """Pin the changed definition named by `fingerprint`: decided on the server with the
        tool's pin facts, then a compare-and-set on the pin read (a change noted meanwhile
        is a 409: the approver reads it first)."""
        server = await self._servers.load(subject, server_id, TOOL_PIN_APPROVE)
        pin = (await self._store.read({server.id: [tool]}))[server.id].get(tool)
        decision = await self._authorizer.require(
            TOOL_PIN_APPROVE,
            subject,
            _resource(server, tool, pin, fingerprint),
            what=f"tool {tool!r} of MCP server {server_id}",
        )
        if pin is None:
            raise NotFound(f"tool {tool!r} of MCP server {server_id} has no pin")
        wanted = _awaiting(pin)
        if wanted is None:
            raise Conflict(
                f"tool {tool!r} has not changed since it was approved: nothing to approve"
            )
        if wanted.fingerprint != fingerprint:
            raise Conflict(
                f"tool {tool!r} awaits approval of fingerprint {wanted.fingerprint}, not "
                f"{fingerprint}: read its pin again and approve what it shows"
            )
        approved = ToolPin(
            tool=tool,
            pinned=wanted,
            pinned_at=datetime.now(UTC),
            pinned_by=subject.id,
            decision_id=decision.decision_id,
        )
        if not await self._store.replace(server.id, pin, approved):
            raise Conflict(f"the pin of tool {tool!r} changed meanwhile; read it again")
        return approved


def _awaiting(pin: ToolPin) -> ToolDefinition | None:
    """What an approval of this pin approves: its change, or a pin taken on first sight that
    no person approved yet (for a policy that wants every tool approved before first use)."""
    if pin.changed is not None:
        return pin.changed
    return pin.pinned if pin.pinned_by is None else None


def _resource(
    server: AnyServer, tool: str, pin: ToolPin | None, fingerprint: str
) -> inputs.Resource:
    """The server with the tool's pin facts: the pinned fingerprint, the one approved (and
    its description), which fields differ: what the log shows of the approval."""
    wanted = _awaiting(pin) if pin is not None else None
    facts = inputs.ToolFacts(
        name=tool,
        description=wanted.definition.get("description") if wanted is not None else None,
        pinned=pin.pinned.fingerprint if pin is not None else None,
        fingerprint=fingerprint,
        changed=pin.changed_fields if pin is not None else [],
        pinned_by=pin.pinned_by if pin is not None else None,
    )
    return inputs.view_server(server, tool=facts)
