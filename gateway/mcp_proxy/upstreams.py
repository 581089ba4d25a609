"""The upstream MCP servers of one client session (so of one user): a client per server,
opened on first use with the server's credentials and kept until the client's session ends,
idles out or the server's record changes. Every connect, initialize and request is bounded
by GATEWAY_MCP_UPSTREAM_TIMEOUT_SECONDS; an upstream that fails or is slow raises
`UpstreamUnavailable` for its own tools only, with a message that tells nothing internal."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import anyio
import httpx
from anyio.abc import TaskGroup
from mcp import ClientSession, McpError, types
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from gateway.domain.servers import ENV_REF, AnyServer
from gateway.mcp_proxy.network import guarded_client

log = logging.getLogger(__name__)

# How long an upstream's idle notification stream may stay silent before it is reopened.
_STREAM_READ_SECONDS = 300.0

Resolver = Callable[[AnyServer], Awaitable[dict[str, str]]]


class UpstreamUnavailable(Exception):
    """Safe to show the client: names the server, never a URL, header or exception."""

    def __init__(self, server: AnyServer) -> None:
        super().__init__(f"MCP server {server.name!r} ({server.id}) is unavailable")
        self.server_id = server.id


def upstream_headers(server: AnyServer, values: dict[str, str]) -> dict[str, str]:
    """The server's declared headers with `${NAME}` replaced by the secret's value. A header
    naming a credential that is not set is left out rather than sent half-filled."""
    headers = {}
    for name, template in server.headers.items():
        refs = ENV_REF.findall(template)
        if all(ref in values for ref in refs):
            headers[name] = ENV_REF.sub(lambda m: values[m.group(1)], template)
    return headers


@dataclass(eq=False)
class _Connection:
    version: str  # the server record it was opened for (its updated_at)
    ready: anyio.Event = field(default_factory=anyio.Event)
    closing: anyio.Event = field(default_factory=anyio.Event)
    session: ClientSession | None = None
    tools: dict[str, types.Tool] = field(default_factory=dict)
    broken: bool = False


class UpstreamPool:
    def __init__(
        self,
        task_group: TaskGroup,
        resolve: Resolver,
        *,
        timeout_seconds: float,
        allow_private: bool,
    ) -> None:
        self._tg = task_group
        self._resolve = resolve
        self._timeout = timeout_seconds
        self._allow_private = allow_private
        self._connections: dict[str, _Connection] = {}
        self._opening: dict[str, anyio.Lock] = {}

    async def list_tools(self, server: AnyServer) -> list[types.Tool]:
        conn = await self._connection(server)
        result: types.ListToolsResult = await self._request(server, conn, lambda s: s.list_tools())
        conn.tools = {tool.name: tool for tool in result.tools}
        return result.tools

    async def tool(self, server: AnyServer, name: str) -> types.Tool | None:
        """The upstream's definition of `name` (from its last listing, listed if unknown)."""
        conn = await self._connection(server)
        if name not in conn.tools:
            await self.list_tools(server)
        return conn.tools.get(name)

    async def call_tool(
        self, server: AnyServer, name: str, arguments: dict[str, Any] | None
    ) -> types.CallToolResult:
        conn = await self._connection(server)
        result: types.CallToolResult = await self._request(
            server, conn, lambda s: s.call_tool(name, arguments)
        )
        return result

    async def aclose(self) -> None:
        for conn in self._connections.values():
            conn.closing.set()
        self._connections.clear()

    async def _request(
        self,
        server: AnyServer,
        conn: _Connection,
        send: Callable[[ClientSession], Awaitable[Any]],
    ) -> Any:
        assert conn.session is not None
        try:
            with anyio.fail_after(self._timeout):
                return await send(conn.session)
        except McpError as exc:
            if exc.error.code == httpx.codes.REQUEST_TIMEOUT:  # the SDK's read timeout
                self._drop(server, conn, "timed out")
                raise UpstreamUnavailable(server) from None
            raise  # the upstream's own answer (unknown tool, bad arguments, ...)
        except Exception as exc:  # TimeoutError, a dead connection: reopened next time
            self._drop(server, conn, type(exc).__name__)
            raise UpstreamUnavailable(server) from None

    def _drop(self, server: AnyServer, conn: _Connection, why: str) -> None:
        log.warning("upstream %s: %s; its connection is closed", server.id, why)
        conn.broken = True
        conn.closing.set()
        if self._connections.get(server.id) is conn:
            del self._connections[server.id]

    async def _connection(self, server: AnyServer) -> _Connection:
        version = server.updated_at.isoformat()
        lock = self._opening.setdefault(server.id, anyio.Lock())
        async with lock:
            conn = self._connections.get(server.id)
            if conn is not None and not conn.broken and conn.version == version:
                return conn
            if conn is not None:  # the record changed (URL, headers, credentials): reopen
                conn.closing.set()
            conn = _Connection(version=version)
            self._tg.start_soon(self._run, server, conn)
            await conn.ready.wait()
            if conn.session is None:
                raise UpstreamUnavailable(server)
            self._connections[server.id] = conn
            return conn

    async def _run(self, server: AnyServer, conn: _Connection) -> None:
        """Owns the upstream client for its whole life: the SDK's transports are task-bound
        context managers, so one task enters and leaves them."""
        try:
            with anyio.fail_after(self._timeout):
                headers = upstream_headers(server, await self._resolve(server))
            async with AsyncExitStack() as stack:
                read, write = await self._open(stack, server, headers)
                bound = timedelta(seconds=self._timeout)
                session = await stack.enter_async_context(
                    ClientSession(read, write, read_timeout_seconds=bound)
                )
                with anyio.fail_after(self._timeout):
                    await session.initialize()
                conn.session = session
                conn.ready.set()
                await conn.closing.wait()
        except Exception as exc:
            # The detail stays in the gateway's log; the client hears "unavailable".
            log.warning("upstream %s unavailable: %s", server.id, _describe(exc))
        finally:
            conn.broken = True
            conn.ready.set()

    async def _open(
        self, stack: AsyncExitStack, server: AnyServer, headers: dict[str, str]
    ) -> tuple[Any, Any]:
        assert server.url is not None
        bounds = httpx.Timeout(self._timeout, read=max(self._timeout, _STREAM_READ_SECONDS))

        def client(
            headers: dict[str, str] | None = None,
            timeout: httpx.Timeout | None = None,
            auth: httpx.Auth | None = None,
        ) -> httpx.AsyncClient:
            return guarded_client(
                allow_private=self._allow_private, headers=headers, timeout=timeout or bounds
            )

        if server.transport == "sse":
            read, write = await stack.enter_async_context(
                sse_client(
                    server.url,
                    headers=headers,
                    timeout=self._timeout,
                    sse_read_timeout=max(self._timeout, _STREAM_READ_SECONDS),
                    httpx_client_factory=client,
                )
            )
            return read, write
        http = await stack.enter_async_context(client(headers=headers))
        read, write, _ = await stack.enter_async_context(
            streamable_http_client(server.url, http_client=http)
        )
        return read, write


def _describe(exc: BaseException) -> str:
    """One line naming the exception types (an ExceptionGroup's leaves), never header values."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    with contextlib.suppress(Exception):
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return type(exc).__name__
