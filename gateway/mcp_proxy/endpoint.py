"""`/mcp`: the MCP SDK's Streamable HTTP session manager, mounted into the Litestar app.
Litestar's bearer middleware authenticates every request before it gets here (401 with
WWW-Authenticate, as on /v1); the session manager runs for the app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, asgi
from litestar.handlers import ASGIRouteHandler
from litestar.types import Receive, Scope, Send
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from gateway.domain.subjects import Subject
from gateway.errors import BackendUnavailable, Unauthenticated
from gateway.mcp_proxy.caller import GatewayUser
from gateway.mcp_proxy.handlers import PATH, build_server
from gateway.mcp_proxy.services import ProxyServices


class MCPProxy:
    def __init__(self, services_of: Callable[[], ProxyServices]) -> None:
        """`services_of`: what the proxy uses, once the runtime is open (gateway/app.py)."""
        self._services_of = services_of
        self._server = build_server(services_of)
        self._manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        """After the runtime's lifespan (it needs the runtime), left before it: client
        sessions, and with them the upstream sessions, close while the backends are open."""
        settings = self._services_of().settings
        manager = StreamableHTTPSessionManager(
            app=self._server,
            session_idle_timeout=settings.mcp_session_idle_seconds,
            max_request_body_size=settings.max_body_bytes,
        )
        async with manager.run():
            self._manager = manager
            try:
                yield
            finally:
                self._manager = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        subject = scope.get("user")
        if not isinstance(subject, Subject):
            raise Unauthenticated("missing bearer token")
        if self._manager is None:
            raise BackendUnavailable("the MCP proxy is not running")
        scoped: Any = {**scope, "user": GatewayUser(subject)}
        await self._manager.handle_request(scoped, receive, send)  # type: ignore[arg-type]

    def route_handler(self) -> ASGIRouteHandler:
        proxy = self

        @asgi(PATH, is_mount=True, copy_scope=True)
        async def mcp_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
            await proxy(scope, receive, send)

        return mcp_endpoint
