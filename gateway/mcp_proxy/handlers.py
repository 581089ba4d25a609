"""The MCP methods the proxy serves over the caller's merged view: tools, resources
(and templates) and prompts, listed and used under the policy (gateway/mcp_proxy/decisions.py).

Every request is complete in itself (docs/adr/0051-stateless-mcp.md): who asks comes from
the HTTP request (the bearer middleware put the Subject in the ASGI scope), the view and the
policy from the stores, the upstreams from the process's pool (opened on demand). So any
replica answers any request. A gateway failure is an MCP error that fails closed and tells
nothing internal: the SDK would send an unexpected exception's text to a 2025-era client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mcp import MCPError, types
from mcp.server import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.inbound import X_MCP_HEADER_KEY

from gateway import __version__
from gateway.domain.decisions import Decision
from gateway.domain.servers import AnyServer
from gateway.domain.subjects import Subject
from gateway.errors import GatewayError
from gateway.mcp_proxy import approvals, names
from gateway.mcp_proxy.decisions import Decider, applied, not_hosted, unknown
from gateway.mcp_proxy.pins import pin_facts
from gateway.mcp_proxy.services import ProxyServices
from gateway.mcp_proxy.upstreams import UpstreamPool, UpstreamUnavailable
from gateway.policy.inputs import ApprovalFacts

log = logging.getLogger(__name__)

PROXIED_TRANSPORTS = frozenset({"streamable_http", "sse", "stdio"})
UNAVAILABLE_META = "gateway/unavailable"
# Lists depend on the caller (their view, the policy): never shared; a client may reuse one
# this long. A call is decided again whatever a cached list showed.
LIST_TTL_MS = 10_000
INSTRUCTIONS = (
    "The tools, resources and prompts of the MCP servers in your merged view that the "
    "gateway's policy allows. Names are `<server>__<name>`; resource URIs "
    "`mcpgw://<server>/<uri>`."
)
T = TypeVar("T")
Item = TypeVar("Item")


@dataclass(frozen=True)
class Proxy:
    """What the handlers need, for the process: the services and the upstream pool."""

    services: ProxyServices
    pool: UpstreamPool


@dataclass
class _Call:
    """One MCP request: who asks, and the servers of their view the proxy can reach."""

    subject: Subject
    proxy: Proxy
    decide: Decider
    # Per stdio server, this request's answer: its sandbox's egress, or why it is not hosted.
    hosted: dict[str, bool | MCPError] = field(default_factory=dict)

    async def servers(self) -> tuple[list[AnyServer], dict[str, str]]:
        """The enabled servers of the caller's merged view and their prefixes: HTTP servers,
        and stdio servers (hosted in a sandbox where the policy lets them run: `egress`).
        A disabled server runs nowhere."""
        view = await self.proxy.services.servers.list(self.subject)
        servers = [s for s in view if s.transport in PROXIED_TRANSPORTS and s.enabled]
        return servers, names.prefixes(servers)

    async def egress(self, server: AnyServer) -> bool:
        """For a stdio server, the egress its sandbox may have, decided by `mcp_server.run`;
        an MCPError saying why it is not hosted (hosting off here, or the policy's denial).
        A running sandbox is asked about as it runs; a new one with egress first, then
        without (egress only where a rule grants it). False for an HTTP server."""
        if server.transport != "stdio":
            return False
        if server.id not in self.hosted:
            self.hosted[server.id] = await self._hosting(server)
        answer = self.hosted[server.id]
        if isinstance(answer, MCPError):
            raise answer
        return answer

    async def _hosting(self, server: AnyServer) -> bool | MCPError:
        hosting = self.proxy.services.hosting
        if not hosting.enabled:
            return MCPError(
                code=types.INTERNAL_ERROR,
                message=f"MCP server {server.name!r} ({server.id}) is a stdio server and "
                f"stdio hosting is off on this gateway: {hosting.reason}",
            )
        running = self.proxy.pool.hosted_egress(self.subject.id, server)
        asks = [running] if running is not None else []
        asks += [egress for egress in (True, False) if egress not in asks]
        for egress in asks:
            decision = await self.decide.run(server, egress=egress)
            if decision.allow and decision.visible:
                return egress
        return not_hosted(server, decision)

    async def server(self, prefix: str) -> AnyServer | None:
        servers, prefixes = await self.servers()
        return next((s for s in servers if prefixes[s.id] == prefix), None)

    async def gather(
        self, fetch: Callable[..., Awaitable[Sequence[Item]]]
    ) -> tuple[list[tuple[AnyServer, str, Item]], list[dict[str, str]]]:
        """Every server's items (server, prefix, item), and the servers that could not answer
        (a `_meta` note: the list is partial, not failed)."""
        servers, prefixes = await self.servers()

        async def fetch_one(server: AnyServer) -> Sequence[Item]:
            return await fetch(self.subject.id, server, egress=await self.egress(server))

        found = await asyncio.gather(*(fetch_one(s) for s in servers), return_exceptions=True)
        items: list[tuple[AnyServer, str, Item]] = []
        unavailable: list[dict[str, str]] = []
        for server, listed in zip(servers, found, strict=True):
            if isinstance(listed, UpstreamUnavailable | MCPError):
                unavailable.append(_note(server, listed))
            elif isinstance(listed, BaseException):
                raise listed
            else:
                items.extend((server, prefixes[server.id], item) for item in listed)
        return items, unavailable


def _note(server: AnyServer, error: UpstreamUnavailable | MCPError) -> dict[str, str]:
    """A server that could not answer, for `_meta`: what it is, and why (a policy denial
    with its decision id)."""
    if isinstance(error, UpstreamUnavailable):
        return {"server_id": server.id, "message": str(error)}
    note = {"server_id": server.id, "message": error.message}
    if isinstance(error.data, dict) and error.data.get("decision_id"):
        note["decision_id"] = str(error.data["decision_id"])
    return note


def _meta(unavailable: list[dict[str, str]]) -> dict[str, Any] | None:
    return {UNAVAILABLE_META: unavailable} if unavailable else None


async def _allowed(
    items: list[tuple[AnyServer, str, Item]],
    decide: Callable[[AnyServer, Item], Awaitable[Any]],
) -> list[tuple[str, Item]]:
    decisions = await asyncio.gather(*(decide(server, item) for server, _, item in items))
    # A tool whose calls wait for a person's approval is listed: its calls can be approved.
    return [
        (prefix, item)
        for (_, prefix, item), decision in zip(items, decisions, strict=True)
        if decision.visible and (decision.allow or decision.approval is not None)
    ]


# --- tools ---------------------------------------------------------------------------------


async def list_tools(call: _Call) -> types.ListToolsResult:
    items, unavailable = await call.gather(call.proxy.pool.list_tools)
    pins = await pin_facts(call.proxy.services.tool_pins, [(s, t) for s, _, t in items])
    pin_of = {(s.id, t.name): pin for (s, _, t), pin in zip(items, pins, strict=True)}
    allowed = await _allowed(
        items,
        lambda server, tool: call.decide.tool(
            server, tool, pin=pin_of[(server.id, tool.name)], listing=True
        ),
    )
    return types.ListToolsResult(
        tools=[
            tool.model_copy(
                update={
                    "name": names.qualified(prefix, tool.name),
                    "input_schema": _without_param_headers(tool.input_schema),
                }
            )
            for prefix, tool in allowed
        ],
        cache_scope="private",
        ttl_ms=LIST_TTL_MS,
        _meta=_meta(unavailable),
    )


def _without_param_headers(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without `x-mcp-header` on its properties: the proxy does not validate
    `Mcp-Param-*` headers (build_server), so it does not ask clients to send them."""
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not any(
        isinstance(p, dict) and X_MCP_HEADER_KEY in p for p in properties.values()
    ):
        return schema
    cleaned = {
        name: {k: v for k, v in p.items() if k != X_MCP_HEADER_KEY} if isinstance(p, dict) else p
        for name, p in properties.items()
    }
    return {**schema, "properties": cleaned}


async def call_tool(
    call: _Call, name: str, arguments: dict[str, Any] | None
) -> types.CallToolResult:
    server, upstream_name = await _resolve(call, name, "tool")
    egress = await call.egress(server)
    tool = await call.proxy.pool.tool(call.subject.id, server, upstream_name, egress=egress)
    if tool is None:
        raise unknown("tool", name)
    [pin] = await pin_facts(call.proxy.services.tool_pins, [(server, tool)])
    given = arguments or {}
    decision = await call.decide.tool(server, tool, given, pin=pin)
    if decision.approval is not None:  # the policy wants a person to approve this call

        async def redecide(approval: ApprovalFacts) -> Decision:
            return await call.decide.tool(server, tool, given, pin=pin, approval=approval)

        decision = await approvals.gate(
            call.proxy.services.approvals, call.subject, server, upstream_name, given,
            decision, redecide,
        )  # fmt: skip
    applied(decision, "tool", name, "tools/call")
    result = await call.proxy.pool.call_tool(
        call.subject.id, server, upstream_name, arguments, egress=egress
    )
    return _ours(result)


# --- resources -----------------------------------------------------------------------------


async def list_resources(call: _Call) -> types.ListResourcesResult:
    items, unavailable = await call.gather(call.proxy.pool.list_resources)
    allowed = await _allowed(
        items, lambda server, item: call.decide.resource(server, item, listing=True)
    )
    return types.ListResourcesResult(
        resources=[
            item.model_copy(update={"uri": names.wrap_uri(prefix, str(item.uri))})
            for prefix, item in allowed
        ],
        cache_scope="private",
        ttl_ms=LIST_TTL_MS,
        _meta=_meta(unavailable),
    )


async def list_resource_templates(call: _Call) -> types.ListResourceTemplatesResult:
    items, unavailable = await call.gather(call.proxy.pool.list_resource_templates)
    allowed = await _allowed(
        items, lambda server, item: call.decide.resource(server, item, listing=True)
    )
    return types.ListResourceTemplatesResult(
        resource_templates=[
            item.model_copy(update={"uri_template": names.wrap_uri(prefix, item.uri_template)})
            for prefix, item in allowed
        ],
        cache_scope="private",
        ttl_ms=LIST_TTL_MS,
        _meta=_meta(unavailable),
    )


async def read_resource(call: _Call, uri: str) -> types.ReadResourceResult:
    parts = names.unwrap_uri(uri)
    server = await call.server(parts[0]) if parts is not None else None
    if parts is None or server is None:
        raise unknown("resource", uri)
    upstream_uri = parts[1]
    egress = await call.egress(server)
    listed = await call.proxy.pool.list_resources(call.subject.id, server, egress=egress)
    known = next((r for r in listed if str(r.uri) == upstream_uri), None)
    applied(
        await call.decide.resource(server, known or upstream_uri), "resource", uri, "resources/read"
    )
    result = await call.proxy.pool.read_resource(
        call.subject.id, server, upstream_uri, egress=egress
    )
    # The contents name the URI the client asked for, not the upstream's.
    contents = [
        c.model_copy(update={"uri": names.wrap_uri(parts[0], str(c.uri))}) for c in result.contents
    ]
    return _ours(result.model_copy(update={"contents": contents, "cache_scope": "private"}))


# --- prompts -------------------------------------------------------------------------------


async def list_prompts(call: _Call) -> types.ListPromptsResult:
    items, unavailable = await call.gather(call.proxy.pool.list_prompts)
    allowed = await _allowed(
        items, lambda server, prompt: call.decide.prompt(server, prompt, listing=True)
    )
    return types.ListPromptsResult(
        prompts=[
            prompt.model_copy(update={"name": names.qualified(prefix, prompt.name)})
            for prefix, prompt in allowed
        ],
        cache_scope="private",
        ttl_ms=LIST_TTL_MS,
        _meta=_meta(unavailable),
    )


async def get_prompt(
    call: _Call, name: str, arguments: dict[str, str] | None
) -> types.GetPromptResult:
    server, upstream_name = await _resolve(call, name, "prompt")
    egress = await call.egress(server)
    prompt = await call.proxy.pool.prompt(call.subject.id, server, upstream_name, egress=egress)
    if prompt is None:
        raise unknown("prompt", name)
    applied(
        await call.decide.prompt(server, prompt, arguments or {}), "prompt", name, "prompts/get"
    )
    return await call.proxy.pool.get_prompt(
        call.subject.id, server, upstream_name, arguments, egress=egress
    )


Answer = TypeVar("Answer", types.CallToolResult, types.GetPromptResult, types.ReadResourceResult)
_RESERVED_META = "io.modelcontextprotocol/"


def _ours(result: Answer) -> Answer:
    """An upstream's answer as the gateway's: without the protocol's own `_meta` keys (the
    upstream's serverInfo stamp), so the SDK stamps the gateway's."""
    meta = result.meta
    if not meta or not any(key.startswith(_RESERVED_META) for key in meta):
        return result
    kept = {k: v for k, v in meta.items() if not k.startswith(_RESERVED_META)}
    return result.model_copy(update={"meta": kept or None})


async def _resolve(call: _Call, name: str, kind: str) -> tuple[AnyServer, str]:
    parts = names.split(name)
    server = await call.server(parts[0]) if parts is not None else None
    if parts is None or server is None:
        raise unknown(kind, name)
    return server, parts[1]


# --- the server ----------------------------------------------------------------------------


def build_server(proxy_of: Callable[[], Proxy]) -> Server[Any]:
    """The low-level SDK server with the proxy's handlers. `proxy_of` gives the running
    proxy (its pool opens with the app's lifespan)."""

    def begin(ctx: ServerRequestContext[Any]) -> _Call:
        request = ctx.request
        subject = request.scope.get("user") if request is not None else None
        if not isinstance(subject, Subject):  # the bearer middleware guarantees one
            raise MCPError(code=types.INVALID_REQUEST, message="unauthenticated")
        proxy = proxy_of()
        return _Call(subject, proxy, Decider(proxy.services.authorizer, subject))

    def serve(work: Callable[[_Call, Any], Awaitable[T]]) -> Callable[[Any, Any], Awaitable[T]]:
        async def handler(ctx: ServerRequestContext[Any], params: Any) -> T:
            return await _guarded(lambda: work(begin(ctx), params))

        return handler

    return Server(
        "mcp-policy-gateway",
        version=__version__,
        instructions=INSTRUCTIONS,
        # No tool schema lookup before a call: the SDK would run tools/list (every upstream)
        # to check `Mcp-Param-*` headers; the advertised schemas carry no `x-mcp-header`.
        get_tool_input_schema=lambda _: None,
        on_list_tools=serve(lambda call, _: list_tools(call)),
        on_call_tool=serve(lambda call, p: call_tool(call, p.name, p.arguments)),
        on_list_resources=serve(lambda call, _: list_resources(call)),
        on_list_resource_templates=serve(lambda call, _: list_resource_templates(call)),
        on_read_resource=serve(lambda call, p: read_resource(call, str(p.uri))),
        on_list_prompts=serve(lambda call, _: list_prompts(call)),
        on_get_prompt=serve(lambda call, p: get_prompt(call, p.name, p.arguments)),
    )


async def _guarded(work: Callable[[], Awaitable[T]]) -> T:
    """Fail closed, and say nothing internal: a policy engine, store or log that fails is an
    error (never a pass); an upstream that fails is named, nothing more."""
    try:
        return await work()
    except MCPError:
        raise
    except UpstreamUnavailable as exc:
        raise MCPError(code=types.INTERNAL_ERROR, message=str(exc)) from None
    except GatewayError as exc:
        log.error("MCP proxy: %s: %s", type(exc).__name__, exc.detail)
        raise MCPError(
            code=types.INTERNAL_ERROR,
            message="the gateway cannot decide or serve this right now; retry",
        ) from None
    except Exception:
        log.exception("MCP proxy: unexpected error")
        raise MCPError(code=types.INTERNAL_ERROR, message="internal error") from None
