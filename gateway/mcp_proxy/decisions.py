"""The policy's say on what the proxy serves: `mcp_server.run` (may a stdio server be hosted,
with what egress), `tool.call`, `resource.read` and `prompt.get`,
each an action on the server (as the merged view shows it) with the item added to the
resource — `tool`, `mcp_resource` or `prompt` — so every rule on servers applies to their
items too. A list shows the items the policy allows (asked without arguments); a call, read
or get is decided again with its arguments. A denial is an MCP error carrying the reasons
and the decision id, as a 403 body does on /v1; an item the caller may not see is
indistinguishable from one that does not exist (a 404 on /v1)."""

from __future__ import annotations

from typing import Any

import msgspec
from mcp import MCPError, types

from gateway.domain.decisions import Decision
from gateway.domain.servers import AnyServer
from gateway.domain.subjects import Subject
from gateway.mcp_proxy.pins import PinFacts
from gateway.policy import inputs
from gateway.policy.decider import Authorizer

TOOL_CALL = "tool.call"
RESOURCE_READ = "resource.read"
PROMPT_GET = "prompt.get"
MCP_SERVER_RUN = "mcp_server.run"
# JSON-RPC leaves -32000..-32099 to the server: this one says "the policy refused it".
POLICY_DENIED = -32003
# ... and this one "the call waits for a person's approval" (data: the approval id).
APPROVAL_REQUIRED = -32004


def tool_facts(
    tool: types.Tool,
    arguments: dict[str, Any] | None = None,
    pin: PinFacts | None = None,
    approval: inputs.ApprovalFacts | None = None,
) -> inputs.ToolFacts:
    hints = tool.annotations
    return inputs.ToolFacts(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        annotations=inputs.ToolAnnotations(
            title=hints.title if hints else None,
            read_only_hint=hints.read_only_hint if hints else None,
            destructive_hint=hints.destructive_hint if hints else None,
            idempotent_hint=hints.idempotent_hint if hints else None,
            open_world_hint=hints.open_world_hint if hints else None,
        ),
        arguments=arguments,
        pinned=pin.pinned if pin else None,
        fingerprint=pin.fingerprint if pin else None,
        changed=pin.changed if pin else [],
        pinned_by=pin.pinned_by if pin else None,
        approval=approval,
    )


def resource_facts(item: types.Resource | types.ResourceTemplate | str) -> inputs.ResourceFacts:
    """A listed resource, a listed template, or (a read of a URI no listing showed) a URI."""
    if isinstance(item, str):
        return inputs.ResourceFacts(uri=item)
    if isinstance(item, types.ResourceTemplate):
        return inputs.ResourceFacts(
            uri=item.uri_template,
            name=item.name,
            title=item.title,
            description=item.description,
            mime_type=item.mime_type,
            template=True,
        )
    return inputs.ResourceFacts(
        uri=str(item.uri),
        name=item.name,
        title=item.title,
        description=item.description,
        mime_type=item.mime_type,
    )


def prompt_facts(
    prompt: types.Prompt, arguments: dict[str, str] | None = None
) -> inputs.PromptFacts:
    return inputs.PromptFacts(
        name=prompt.name,
        title=prompt.title,
        description=prompt.description,
        argument_names=[a.name for a in prompt.arguments or []],
        arguments=arguments,
    )


class Decider:
    """The three questions, for one caller."""

    def __init__(self, authorizer: Authorizer, subject: Subject) -> None:
        self._authorizer = authorizer
        self._subject = subject

    # `listing`: the decision filters a list (tools/list …), it is no call attempt; its
    # record says so (`purpose: "list"`).

    async def tool(
        self,
        server: AnyServer,
        tool: types.Tool,
        arguments: dict[str, Any] | None = None,
        *,
        pin: PinFacts | None = None,
        approval: inputs.ApprovalFacts | None = None,
        listing: bool = False,
    ) -> Decision:
        resource = inputs.view_server(server, tool=tool_facts(tool, arguments, pin, approval))
        return await self._authorizer.decide(
            TOOL_CALL, self._subject, resource, purpose=_purpose(listing)
        )

    async def resource(
        self,
        server: AnyServer,
        item: types.Resource | types.ResourceTemplate | str,
        *,
        listing: bool = False,
    ) -> Decision:
        resource = inputs.view_server(server, mcp_resource=resource_facts(item))
        return await self._authorizer.decide(
            RESOURCE_READ, self._subject, resource, purpose=_purpose(listing)
        )

    async def prompt(
        self,
        server: AnyServer,
        prompt: types.Prompt,
        arguments: dict[str, str] | None = None,
        *,
        listing: bool = False,
    ) -> Decision:
        resource = inputs.view_server(server, prompt=prompt_facts(prompt, arguments))
        return await self._authorizer.decide(
            PROMPT_GET, self._subject, resource, purpose=_purpose(listing)
        )

    async def run(self, server: AnyServer, *, egress: bool) -> Decision:
        """May the gateway host this stdio server for the caller, with or without egress?"""
        resource = inputs.view_server(server, sandbox=inputs.SandboxFacts(egress=egress))
        return await self._authorizer.decide(MCP_SERVER_RUN, self._subject, resource)


def _purpose(listing: bool) -> str:
    return "list" if listing else "call"


def not_hosted(server: AnyServer, decision: Decision) -> MCPError:
    """A stdio server the policy does not let the gateway run: a denial, with its reasons."""
    said = "; ".join(r.message for r in decision.reasons) or "not permitted"
    return MCPError(
        code=POLICY_DENIED,
        message=f"MCP server {server.name!r} ({server.id}) may not run on this gateway: {said}",
        data={
            "reasons": [msgspec.structs.asdict(r) for r in decision.reasons],
            "decision_id": decision.decision_id,
        },
    )


def unknown(kind: str, name: str) -> MCPError:
    """What the caller hears about an item it may not see: nothing more than for one that does
    not exist."""
    return MCPError(code=types.INVALID_PARAMS, message=f"unknown {kind} {name!r}")


def applied(decision: Decision, kind: str, name: str, method: str) -> None:
    """Not visible: unknown; visible but not allowed: the policy's denial, with its reasons."""
    if not decision.visible:
        raise unknown(kind, name)
    if not decision.allow:
        raise MCPError(
            code=POLICY_DENIED,
            message=f"{method} of {name!r} denied by policy",
            data={
                "reasons": [msgspec.structs.asdict(r) for r in decision.reasons],
                "decision_id": decision.decision_id,
            },
        )
