"""`/mcp`: the MCP SDK's Streamable HTTP transport, stateless, mounted into the Litestar app
(docs/adr/0051-stateless-mcp.md). One endpoint serves the 2026-07-28 revision (no handshake,
no session) and every 2025 revision (the handshake is answered, no `Mcp-Session-Id` is
issued, and a session id a client sends is ignored), so any replica answers any request.

Litestar's bearer middleware authenticates every request first (401 as on /v1). Before the
SDK reads a request, this endpoint answers what it refuses, each a JSON-RPC error:
- any method but POST: 405 (no standalone stream: the SDK's stateless GET would hold a
  connection open and never send anything, python-sdk#3492);
- a body over GATEWAY_MAX_BODY_BYTES: 413; JSON nested deeper than GATEWAY_MCP_MAX_JSON_DEPTH:
  400 parse error (a 20,000-deep body was a 500);
- more than GATEWAY_MCP_MAX_INFLIGHT_PER_USER requests of one user in flight here: 429, so
  one user's slow calls cannot take every admission slot.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import msgspec
from litestar import Litestar, asgi
from litestar.handlers import ASGIRouteHandler
from litestar.types import HTTPScope, Message, Receive, ReceiveMessage, Scope, Send
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from gateway.audit import scope as request_scopes
from gateway.domain.subjects import Subject
from gateway.errors import BackendUnavailable, Unauthenticated
from gateway.mcp_proxy import wire
from gateway.mcp_proxy.handlers import Proxy, build_server
from gateway.mcp_proxy.services import ProxyServices
from gateway.mcp_proxy.stdio import StdioHosting
from gateway.mcp_proxy.upstreams import UpstreamPool
from gateway.observability.metrics import observe_mcp
from gateway.sandbox import Limits, Workspaces

CLIENT_CLOSED = 499  # no response was started: the client went away

PATH = "/mcp"
# The methods named in metrics and access lines; anything else is `other` (label values are
# series: a client must not be able to mint them).
KNOWN_METHODS = frozenset(
    {
        "initialize", "notifications/initialized", "server/discover", "ping",
        "tools/list", "tools/call", "resources/list", "resources/templates/list",
        "resources/read", "prompts/list", "prompts/get",
    }
)  # fmt: skip


class _Envelope(msgspec.Struct):
    method: str | None = None


_envelope = msgspec.json.Decoder(_Envelope)


def mcp_method(body: bytes) -> str:
    """The JSON-RPC method a body names, as a bounded label."""
    try:
        method = _envelope.decode(body).method
    except (msgspec.DecodeError, msgspec.ValidationError):
        return "other"
    return method if method in KNOWN_METHODS else "other"


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def too_deep(body: bytes, limit: int) -> bool:
    """Does the JSON text nest arrays and objects deeper than `limit`? Read without parsing
    (strings blanked first), stopping at the first level past the limit."""
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', body)):
        if match.group() in b"[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


class MCPProxy:
    def __init__(self, services_of: Callable[[], ProxyServices]) -> None:
        """`services_of`: what the proxy uses, once the runtime is open (gateway/app.py)."""
        self._services_of = services_of
        self._server = build_server(self._running)
        self._proxy: Proxy | None = None
        self._manager: StreamableHTTPSessionManager | None = None
        self._in_flight: Counter[str] = Counter()

    def _running(self) -> Proxy:
        if self._proxy is None:
            raise BackendUnavailable("the MCP proxy is not running")
        return self._proxy

    @asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        """After the runtime's lifespan (it needs the runtime), left before it: the upstream
        clients close while the backends are open."""
        services = self._services_of()
        settings = services.settings
        pool = UpstreamPool(
            services.credentials.values_for,
            timeout_seconds=settings.mcp_upstream_timeout_seconds,
            reach=settings.upstream_reach(),
            max_response_bytes=settings.mcp_max_response_bytes,
            idle_seconds=settings.mcp_upstream_idle_seconds,
            max_per_user=settings.mcp_max_upstreams_per_user,
            max_total=settings.mcp_max_upstreams,
            stdio=_stdio_hosting(services),
        )
        manager = StreamableHTTPSessionManager(
            app=self._server,
            stateless=True,
            json_response=True,
            max_request_body_size=settings.max_body_bytes,
        )
        async with pool.running(), manager.run():
            self._proxy, self._manager = Proxy(services, pool), manager
            try:
                yield
            finally:
                self._proxy, self._manager = None, None

    async def __call__(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        subject = scope.get("user")
        if not isinstance(subject, Subject):
            raise Unauthenticated("missing bearer token")
        manager, proxy = self._manager, self._proxy
        if manager is None or proxy is None:
            raise BackendUnavailable("the MCP proxy is not running")
        started = time.perf_counter()
        status = CLIENT_CLOSED
        noted: dict[str, str] = {}

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._serve(proxy, subject, scope, receive, send_counted, noted)
        finally:
            observe_mcp(noted.get("mcp", "other"), status, time.perf_counter() - started)

    async def _serve(
        self,
        proxy: Proxy,
        subject: Subject,
        scope: HTTPScope,
        receive: Receive,
        send: Send,
        noted: dict[str, str],
    ) -> None:
        """Answer one request; `noted` gets the MCP method it names (metrics, access log)."""
        settings = proxy.services.settings
        manager = self._manager
        assert manager is not None
        if scope["method"] != "POST":
            await wire.refuse(
                send, 405, wire.INVALID_REQUEST, "POST only: this endpoint is stateless",
                [(b"allow", b"POST")],
            )  # fmt: skip
            return
        body = await _body(receive, settings.max_body_bytes)
        if body is None:
            await wire.refuse(send, 413, wire.INVALID_REQUEST, "request body too large")
            return
        if too_deep(body, settings.mcp_max_json_depth):
            message = f"JSON nested deeper than {settings.mcp_max_json_depth} levels"
            await wire.refuse(send, 400, wire.PARSE_ERROR, message)
            return
        noted["mcp"] = mcp_method(body)
        served = request_scopes.current()
        if served is not None:
            served.notes.update(noted)
        if self._in_flight[subject.id] >= settings.mcp_max_inflight_per_user:
            message = "too many of your MCP requests are in flight here; retry"
            await wire.refuse(send, 429, wire.BUSY, message, [(b"retry-after", b"1")])
            return
        self._in_flight[subject.id] += 1
        try:
            await manager.handle_request(dict(scope), _replay(body, receive), send)  # type: ignore[arg-type]
        finally:
            self._in_flight[subject.id] -= 1
            if not self._in_flight[subject.id]:
                del self._in_flight[subject.id]

    def route_handler(self) -> ASGIRouteHandler:
        proxy = self

        # Every MCP message only reads the stores (the view, the policy, credentials): the
        # identity step reads ahead what the view cache asks next, as for a GET.
        @asgi(PATH, is_mount=True, copy_scope=True, opt={request_scopes.READS_ONLY: True})
        async def mcp_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
            await proxy(scope, receive, send)  # type: ignore[arg-type]  # a mount: HTTP only

        return mcp_endpoint


def _stdio_hosting(services: ProxyServices) -> StdioHosting | None:
    """Hosting, where the startup probe made a sandbox; never without one."""
    if not services.hosting.enabled:
        return None
    settings = services.settings
    return StdioHosting(
        workspaces=Workspaces(settings.stdio_workspace_dir),
        limits=Limits(
            memory_bytes=settings.stdio_memory_bytes,
            cpu_seconds=settings.stdio_cpu_seconds,
            processes=settings.stdio_max_processes,
            open_files=settings.stdio_max_open_files,
        ),
        readonly_paths=settings.stdio_readonly_paths,
        idle_seconds=settings.stdio_idle_seconds,
        max_per_user=settings.stdio_max_per_user,
        max_total=settings.stdio_max_sandboxes,
    )


async def _body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None past `limit` bytes (read no further)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that gives the body already read, then waits on the real one (for the
    client's disconnect)."""
    sent = False

    async def replayed() -> ReceiveMessage:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
