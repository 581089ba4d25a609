"""tools/list and tools/call over the caller's merged view. Each runs in the MCP session's
own task (which inherited the HTTP request that opened the session), so each is served in a
request scope of its own, and turns a gateway failure into an MCP error that fails closed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
from mcp import McpError, types
from mcp.server.lowlevel import Server

from gateway.audit.scope import RequestScope
from gateway.domain.servers import AnyServer
from gateway.domain.subjects import Subject
from gateway.errors import GatewayError
from gateway.mcp_proxy import decisions, names
from gateway.mcp_proxy.caller import request_id_of, subject_of
from gateway.mcp_proxy.services import ProxyServices
from gateway.mcp_proxy.upstreams import UpstreamPool, UpstreamUnavailable

log = logging.getLogger(__name__)

HTTP_TRANSPORTS = frozenset({"streamable_http", "sse"})
UNAVAILABLE_META = "gateway/unavailable"
T = TypeVar("T")


@dataclass
class ProxySession:
    """What one client session holds: its upstream clients."""

    pool: UpstreamPool


@dataclass
class _Call:
    subject: Subject
    services: ProxyServices
    pool: UpstreamPool
    req_id: str

    def served(self) -> AbstractContextManager[RequestScope]:
        return self.services.recorder.request_scope("POST", PATH, self.req_id)


PATH = "/mcp"


def build_server(services_of: Callable[[], ProxyServices]) -> Server[ProxySession, Any]:
    @asynccontextmanager
    async def session_lifespan(_: Server[ProxySession, Any]) -> AsyncIterator[ProxySession]:
        """Per client session: entered when it starts, left when it ends (DELETE, idle
        timeout, transport closed), which closes its upstream sessions."""
        services = services_of()
        settings = services.settings
        async with anyio.create_task_group() as tg:
            pool = UpstreamPool(
                tg,
                services.credentials.values_for,
                timeout_seconds=settings.mcp_upstream_timeout_seconds,
                allow_private=settings.allow_private_upstreams,
            )
            try:
                yield ProxySession(pool=pool)
            finally:
                await pool.aclose()

    server: Server[ProxySession, Any] = Server(
        "mcp-policy-gateway",
        instructions="The tools of the MCP servers in your merged view that the policy allows.",
        lifespan=session_lifespan,
    )

    def call_context() -> _Call:
        ctx = server.request_context
        subject = subject_of(ctx.request)
        if subject is None:  # the bearer middleware guarantees one; fail closed regardless
            raise McpError(types.ErrorData(code=types.INVALID_REQUEST, message="unauthenticated"))
        return _Call(
            subject=subject,
            services=services_of(),
            pool=ctx.lifespan_context.pool,
            req_id=request_id_of(ctx.request),
        )

    async def list_tools(_: types.ListToolsRequest | None) -> types.ServerResult:
        call = call_context()
        with call.served():
            return types.ServerResult(await _guarded(lambda: _list_tools(call)))

    async def call_tool(req: types.CallToolRequest) -> types.ServerResult:
        params = req.params
        call = call_context()
        with call.served():
            return types.ServerResult(
                await _guarded(lambda: _call_tool(call, params.name, params.arguments))
            )

    # Registered directly, not through the SDK's decorators: those turn every exception into
    # a tool result, and a denial must be an MCP error carrying the reasons.
    server.request_handlers[types.ListToolsRequest] = list_tools
    server.request_handlers[types.CallToolRequest] = call_tool
    return server


async def _guarded(work: Callable[[], Awaitable[T]]) -> T:
    """Fail closed: a policy engine, store or log that fails is an error, never a pass."""
    try:
        return await work()
    except McpError:
        raise
    except GatewayError as exc:
        log.error("MCP proxy: %s: %s", type(exc).__name__, exc.detail)
        raise McpError(
            types.ErrorData(
                code=types.INTERNAL_ERROR,
                message="the gateway cannot decide or serve this right now; retry",
            )
        ) from None


async def _servers(call: _Call) -> tuple[list[AnyServer], dict[str, str]]:
    """The servers of the caller's merged view the proxy can reach, and their prefixes.
    Stdio servers run where the client is (`/launch`); a disabled server runs nowhere."""
    view = await call.services.servers.list(call.subject)
    servers = [s for s in view if s.transport in HTTP_TRANSPORTS and s.enabled]
    return servers, names.prefixes(servers)


async def _list_tools(call: _Call) -> types.ListToolsResult:
    servers, prefixes = await _servers(call)
    listed = await asyncio.gather(
        *(call.pool.list_tools(s) for s in servers), return_exceptions=True
    )
    unavailable: list[dict[str, str]] = []
    candidates: list[tuple[AnyServer, types.Tool]] = []
    for server, tools in zip(servers, listed, strict=True):
        if isinstance(tools, BaseException):
            if not isinstance(tools, UpstreamUnavailable | McpError):
                raise tools
            unavailable.append({"server_id": server.id, "message": str(tools)})
            continue
        candidates.extend((server, tool) for tool in tools)
    authorizer = call.services.authorizer
    decided = await asyncio.gather(
        *(decisions.decide(authorizer, call.subject, s, t) for s, t in candidates)
    )
    tools = [
        tool.model_copy(update={"name": names.qualified(prefixes[server.id], tool.name)})
        for (server, tool), decision in zip(candidates, decided, strict=True)
        if decision.allow
    ]
    meta = {UNAVAILABLE_META: unavailable} if unavailable else None
    return types.ListToolsResult.model_validate({"tools": tools, "_meta": meta})


async def _call_tool(
    call: _Call, name: str, arguments: dict[str, Any] | None
) -> types.CallToolResult:
    parts = names.split(name)
    if parts is None:
        raise decisions.unknown_tool(name)
    prefix, tool_name = parts
    servers, prefixes = await _servers(call)
    server = next((s for s in servers if prefixes[s.id] == prefix), None)
    if server is None:
        raise decisions.unknown_tool(name)
    try:
        tool = await call.pool.tool(server, tool_name)
        if tool is None:
            raise decisions.unknown_tool(name)
        decision = await decisions.decide(
            call.services.authorizer, call.subject, server, tool, arguments or {}
        )
        if not decision.visible:
            raise decisions.unknown_tool(name)
        if not decision.allow:
            raise decisions.denied(name, decision)
        return await call.pool.call_tool(server, tool_name, arguments)
    except UpstreamUnavailable as exc:
        raise McpError(types.ErrorData(code=types.INTERNAL_ERROR, message=str(exc))) from None
