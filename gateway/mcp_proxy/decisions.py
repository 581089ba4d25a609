"""`tool.call` decisions: the resource is the server as the merged view shows it plus `tool`
(name, title, description, annotations; `arguments` on a call). A denial is an MCP error
carrying the policy's reasons and the decision id, as a 403 body does on /v1."""

from __future__ import annotations

from typing import Any

import msgspec
from mcp import McpError, types

from gateway.domain.decisions import Decision
from gateway.domain.servers import AnyServer
from gateway.domain.subjects import Subject
from gateway.policy import inputs
from gateway.policy.decider import Authorizer

ACTION = "tool.call"
# JSON-RPC leaves -32000..-32099 to the server: this one says "the policy refused it".
POLICY_DENIED = -32003


def tool_facts(tool: types.Tool, arguments: dict[str, Any] | None = None) -> inputs.ToolFacts:
    hints = tool.annotations
    return inputs.ToolFacts(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        annotations=inputs.ToolAnnotations(
            title=hints.title if hints else None,
            read_only_hint=hints.readOnlyHint if hints else None,
            destructive_hint=hints.destructiveHint if hints else None,
            idempotent_hint=hints.idempotentHint if hints else None,
            open_world_hint=hints.openWorldHint if hints else None,
        ),
        arguments=arguments,
    )


async def decide(
    authorizer: Authorizer,
    subject: Subject,
    server: AnyServer,
    tool: types.Tool,
    arguments: dict[str, Any] | None = None,
) -> Decision:
    resource = inputs.view_server(server, tool=tool_facts(tool, arguments))
    return await authorizer.decide(ACTION, subject, resource)


def unknown_tool(name: str) -> McpError:
    """What the caller hears about a tool it may not see: nothing more than for a tool that
    does not exist (a 404 on /v1)."""
    return McpError(types.ErrorData(code=types.INVALID_PARAMS, message=f"unknown tool {name!r}"))


def denied(name: str, decision: Decision) -> McpError:
    return McpError(
        types.ErrorData(
            code=POLICY_DENIED,
            message=f"tools/call of {name!r} denied by policy",
            data={
                "reasons": [msgspec.structs.asdict(r) for r in decision.reasons],
                "decision_id": decision.decision_id,
            },
        )
    )
