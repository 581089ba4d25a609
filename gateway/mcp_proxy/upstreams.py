"""The upstream MCP clients of one gateway process, shared by every request it serves.

A client is kept per (user, server) and opened for one version of the server's record (its
`updated_at`): a changed URL, header or credential value changes the version (a credential
write always does: services/secret_records.py), so the next request opens a new client and
the old one is closed. Nothing here is more than a cache: a replica that has never seen a
user opens what a request needs, so any replica answers any request.

One owner task per client enters and leaves it (the SDK's clients hold a task group and
must be entered and exited in one task); any number of requests share the entered client
concurrently. Every connect, initialize and request is bounded by
GATEWAY_MCP_UPSTREAM_TIMEOUT_SECONDS and every answer by GATEWAY_MCP_MAX_RESPONSE_BYTES
(network.py); clients are bounded per user and per process (the least recently used one is
closed to open another) and closed when idle.

Stdio servers (`transport: stdio`) are hosted the same way, in a sandbox of their own
(stdio.py) when the pool is given a StdioHosting: one per (user, server, record version, egress),
with caps and an idle time of their own (GATEWAY_STDIO_*). Whether one may run, and with what
egress, is the policy's (`mcp_server.run`, asked by the handlers before they come here).

What a caller hears:
- the upstream's own JSON-RPC error (`MCPError`: unknown tool, bad arguments, ...) unchanged;
- `UpstreamUnavailable` when the upstream cannot be reached, times out, breaks its stream,
  answers too much or answers something that is not MCP; its message names the server and
  never a URL, a header or an exception (those go to this log, at WARNING, secrets masked);
  a client that failed is dropped and the next request opens a new one;
- `MCPError(-32602)` for arguments the SDK cannot send (nested too deeply): the caller's
  bad request, the client stays.
"""

from __future__ import annotations

import contextvars
import logging
import math
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import anyio
import httpx2
import msgspec
from anyio.abc import TaskGroup
from mcp import Client, MCPError, types
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from pydantic import ValidationError

from gateway import __version__
from gateway.domain.servers import (
    ENV_REF,
    SENDABLE_HEADER_RULE,
    AnyServer,
    sendable_header_value,
)
from gateway.domain.targets import UpstreamReach
from gateway.mcp_proxy.network import (
    EXCHANGE,
    EncodedResponseRefused,
    Exchange,
    ResponseTooLarge,
    guarded_client,
)
from gateway.mcp_proxy.stdio import SDK_LOGGER, StdioHosting, WithoutServerOutput, sandboxed

log = logging.getLogger(__name__)

T = TypeVar("T")
Resolver = Callable[[AnyServer], Awaitable[dict[str, str]]]
Key = tuple[str, str]  # (user id, server id)

# A listing is followed through `next_cursor` this far, no further (a warning says so).
MAX_PAGES = 50
MAX_ITEMS = 10_000
# How long an upstream's idle notification stream may stay silent before it is reopened.
_STREAM_READ_SECONDS = 300.0
_CLIENT_INFO = types.Implementation(name="mcp-policy-gateway", version=__version__)
# Errors the SDK makes up when an HTTP answer carried no JSON-RPC error (they are not the
# upstream's words): with a 4xx/5xx status they mean the upstream is not answering MCP.
_MADE_UP = frozenset(
    {
        (types.METHOD_NOT_FOUND, "Not Found"),
        (types.INVALID_REQUEST, "Session terminated"),
        (types.INTERNAL_ERROR, "Server returned an error response"),
    }
)

Reason = Literal["unavailable", "too_large", "invalid"]
Closed = Literal["idle", "evicted", "broken", "changed"]


class UpstreamUnavailable(Exception):
    """Safe to show the client: names the server (name and id), never a URL, a header or
    an exception's text. `reason` says which: unreachable/slow/broken, an answer over the
    byte bound, an answer that is not MCP."""

    def __init__(
        self, server: AnyServer, reason: Reason = "unavailable", *, limit: int = 0
    ) -> None:
        named = f"MCP server {server.name!r} ({server.id})"
        if reason == "unavailable" and server.transport == "stdio":
            message = (
                f"{named} is unavailable: its sandboxed process did not start or has stopped "
                "(the gateway's log says why)"
            )
        elif reason == "too_large":
            message = f"{named} answered with more than {limit} bytes; the answer was refused"
        elif reason == "invalid":
            message = f"{named} gave an answer that is not valid MCP"
        else:
            message = f"{named} is unavailable"
        super().__init__(message)
        self.server_id = server.id
        self.reason = reason


class UnsendableHeader(ValueError):
    """A header whose filled-in value cannot be sent. Names the header and the variables it
    uses, never the value."""

    def __init__(self, header: str, refs: list[str]) -> None:
        used = ", ".join(f"${{{ref}}}" for ref in refs) or "no credential"
        super().__init__(
            f"header {header!r} (from {used}) cannot be sent: {SENDABLE_HEADER_RULE}; "
            "set the credential again"
        )


def upstream_headers(server: AnyServer, values: dict[str, str]) -> dict[str, str]:
    """The server's declared headers with `${NAME}` replaced by the secret's value. A header
    naming a credential that is not set is left out rather than sent half-filled; one whose
    value cannot be sent (a value stored before the rule, a header changed to use it later)
    is an UnsendableHeader: never handed to the HTTP client, whose error would quote it."""
    headers = {}
    for name, template in server.headers.items():
        refs = ENV_REF.findall(template)
        if all(ref in values for ref in refs):
            value = ENV_REF.sub(lambda m: values[m.group(1)], template)
            if not sendable_header_value(value):
                raise UnsendableHeader(name, refs)
            headers[name] = value
    return headers


class PoolStats(msgspec.Struct, kw_only=True, frozen=True):
    open: int  # clients in the pool now (opening or open)
    opened: int  # clients opened since the pool started
    closed_idle: int  # unused for GATEWAY_MCP_UPSTREAM_IDLE_SECONDS
    closed_evicted: int  # the least recently used, to stay within the caps
    closed_broken: int  # failed, timed out or lost their stream
    closed_changed: int  # the server's record changed (URL, headers, credentials)
    largest_per_user: int  # the most clients one user has in the pool now


@dataclass(eq=False)
class _Upstream:
    """One client: its owner task enters it, serves until `closing`, then leaves it."""

    key: Key
    version: datetime
    egress: bool  # a hosted stdio server's network (always False for HTTP upstreams)
    hosted: bool  # a stdio server in a sandbox (its own caps and idle time)
    label: str  # for the log: the server's name and id, the user
    ready: anyio.Event = field(default_factory=anyio.Event)
    closing: anyio.Event = field(default_factory=anyio.Event)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    client: Client | None = None  # set once entered
    ended: bool = False  # the owner task is done (opening failed, or closed)
    retired: bool = False  # out of the pool; closes once its last call returns
    inflight: int = 0
    last_used: float = 0.0
    secrets: tuple[str, ...] = ()  # masked in anything logged
    tools: dict[str, types.Tool] | None = None  # from its last complete listing
    prompts: dict[str, types.Prompt] | None = None


class _SessionLost(Exception):
    """The upstream no longer knows the client's session (it restarted): reopen, retry."""


class UpstreamPool:
    def __init__(
        self,
        resolve: Resolver,
        *,
        timeout_seconds: float,
        reach: UpstreamReach,
        max_response_bytes: int,
        idle_seconds: float,
        max_per_user: int,
        max_total: int,
        stdio: StdioHosting | None = None,
    ) -> None:
        """`resolve` gives a server's credential values (by name); it is called in the
        task of the request that needs a client, so it runs in that request's context."""
        self._resolve = resolve
        self._timeout = timeout_seconds
        self._reach = reach
        self._max_bytes = max_response_bytes
        self._idle = idle_seconds
        self._max_per_user = max_per_user
        self._max_total = max_total
        self._stdio = stdio
        self._clients: OrderedDict[Key, _Upstream] = OrderedDict()  # least recently used first
        self._owned: set[_Upstream] = set()  # every client whose owner task runs
        self._tg: TaskGroup | None = None
        self._base = contextvars.Context()
        self._opened = 0
        self._closed: Counter[Closed] = Counter()

    # ----- lifetime

    def running(self) -> AbstractAsyncContextManager[None]:
        """The pool's task group (owner tasks, the idle reaper). Entered once, in the app's
        lifespan; on exit every client is closed (each close bounded by the timeout)."""
        return self._running()

    @asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        if self._tg is not None:
            raise RuntimeError("the upstream pool is already running")
        quiet = _QuietRefusals()
        for name in _SDK_LOGGERS:
            logging.getLogger(name).addFilter(quiet)
        unquoted = WithoutServerOutput()
        logging.getLogger(SDK_LOGGER).addFilter(unquoted)
        # Owner tasks outlive the request that opened them: they run in the lifespan's
        # context, not in a request's (its log fields, its audit scope).
        self._base = contextvars.copy_context()
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                reaper = anyio.CancelScope()
                tg.start_soon(self._reap, reaper)
                try:
                    yield
                finally:
                    self._tg = None
                    reaper.cancel()
                    for up in list(self._clients.values()):
                        self._retire(up, None)
                    for up in list(self._owned):
                        up.closing.set()
        finally:
            for name in _SDK_LOGGERS:
                logging.getLogger(name).removeFilter(quiet)
            logging.getLogger(SDK_LOGGER).removeFilter(unquoted)

    async def _reap(self, scope: anyio.CancelScope) -> None:
        with scope:
            while True:
                idle = min(self._idle, self._stdio.idle_seconds if self._stdio else math.inf)
                await anyio.sleep(min(max(idle / 4, 0.05), 30.0))
                now = anyio.current_time()
                for up in list(self._clients.values()):
                    cutoff = now - self._idle_of(up)
                    if up.inflight == 0 and up.ready.is_set() and up.last_used <= cutoff:
                        self._retire(up, "idle")

    def _idle_of(self, up: _Upstream) -> float:
        return self._stdio.idle_seconds if up.hosted and self._stdio else self._idle

    def hosted_egress(self, user_id: str, server: AnyServer) -> bool | None:
        """The egress of the sandbox running this server for this user now (None: none)."""
        up = self._current(user_id, server)
        return up.egress if up is not None and up.hosted else None

    def stats(self) -> PoolStats:
        per_user = Counter(user for user, _ in self._clients)
        return PoolStats(
            open=len(self._clients),
            opened=self._opened,
            closed_idle=self._closed["idle"],
            closed_evicted=self._closed["evicted"],
            closed_broken=self._closed["broken"],
            closed_changed=self._closed["changed"],
            largest_per_user=max(per_user.values(), default=0),
        )

    # ----- what the handlers call

    async def list_tools(
        self, user_id: str, server: AnyServer, *, egress: bool = False
    ) -> list[types.Tool]:
        async def op(up: _Upstream, client: Client) -> list[types.Tool]:
            tools = await self._pages(
                up, "tools", lambda c: client.list_tools(cursor=c), lambda r: r.tools
            )
            up.tools = {tool.name: tool for tool in tools}
            return tools

        return await self._run(user_id, server, op, egress)

    async def tool(
        self, user_id: str, server: AnyServer, name: str, *, egress: bool = False
    ) -> types.Tool | None:
        """The upstream's definition of `name` from that client's last listing (listed if
        unknown: a tool added since, or a client this replica has not listed yet)."""
        up = self._current(user_id, server, egress)
        if up is not None and up.tools is not None and name in up.tools:
            return up.tools[name]
        listed = await self.list_tools(user_id, server, egress=egress)
        return next((t for t in listed if t.name == name), None)

    async def call_tool(
        self,
        user_id: str,
        server: AnyServer,
        name: str,
        arguments: dict[str, Any] | None,
        *,
        egress: bool = False,
    ) -> types.CallToolResult:
        async def op(up: _Upstream, client: Client) -> types.CallToolResult:
            return await client.call_tool(name, arguments)

        return await self._run(user_id, server, op, egress)

    async def list_resources(
        self, user_id: str, server: AnyServer, *, egress: bool = False
    ) -> list[types.Resource]:
        async def op(up: _Upstream, client: Client) -> list[types.Resource]:
            return await self._pages(
                up, "resources", lambda c: client.list_resources(cursor=c), lambda r: r.resources
            )

        return await self._run(user_id, server, op, egress)

    async def list_resource_templates(
        self, user_id: str, server: AnyServer, *, egress: bool = False
    ) -> list[types.ResourceTemplate]:
        async def op(up: _Upstream, client: Client) -> list[types.ResourceTemplate]:
            return await self._pages(
                up,
                "resource templates",
                lambda c: client.list_resource_templates(cursor=c),
                lambda r: r.resource_templates,
            )

        return await self._run(user_id, server, op, egress)

    async def read_resource(
        self, user_id: str, server: AnyServer, uri: str, *, egress: bool = False
    ) -> types.ReadResourceResult:
        async def op(up: _Upstream, client: Client) -> types.ReadResourceResult:
            return await client.read_resource(uri)

        return await self._run(user_id, server, op, egress)

    async def list_prompts(
        self, user_id: str, server: AnyServer, *, egress: bool = False
    ) -> list[types.Prompt]:
        async def op(up: _Upstream, client: Client) -> list[types.Prompt]:
            prompts = await self._pages(
                up, "prompts", lambda c: client.list_prompts(cursor=c), lambda r: r.prompts
            )
            up.prompts = {prompt.name: prompt for prompt in prompts}
            return prompts

        return await self._run(user_id, server, op, egress)

    async def prompt(
        self, user_id: str, server: AnyServer, name: str, *, egress: bool = False
    ) -> types.Prompt | None:
        """Like `tool`: from that client's last listing, listed if unknown."""
        up = self._current(user_id, server, egress)
        if up is not None and up.prompts is not None and name in up.prompts:
            return up.prompts[name]
        found = await self.list_prompts(user_id, server, egress=egress)
        return next((p for p in found if p.name == name), None)

    async def get_prompt(
        self,
        user_id: str,
        server: AnyServer,
        name: str,
        arguments: dict[str, str] | None,
        *,
        egress: bool = False,
    ) -> types.GetPromptResult:
        async def op(up: _Upstream, client: Client) -> types.GetPromptResult:
            return await client.get_prompt(name, arguments)

        return await self._run(user_id, server, op, egress)

    # ----- one operation on a client

    async def _run(
        self,
        user_id: str,
        server: AnyServer,
        op: Callable[[_Upstream, Client], Awaitable[T]],
        egress: bool = False,
    ) -> T:
        for attempt in (1, 2):
            async with self._using(user_id, server, egress) as up:
                try:
                    return await self._guarded(up, server, op)
                except _SessionLost:
                    if attempt == 2:
                        raise UpstreamUnavailable(server) from None
        raise AssertionError("unreachable")

    async def _guarded(
        self, up: _Upstream, server: AnyServer, op: Callable[[_Upstream, Client], Awaitable[T]]
    ) -> T:
        """Run `op` on the client, bounded by the timeout, and sort out what went wrong."""
        exchange = Exchange()
        token = EXCHANGE.set(exchange)
        try:
            if up.client is None or up.ended:
                self._drop(up, "its client has closed")
                raise UpstreamUnavailable(server)
            with anyio.fail_after(self._timeout):
                return await op(up, up.client)
        except MCPError as exc:
            if isinstance(exchange.refused, ResponseTooLarge) or _event_too_large(exc):
                log.warning(
                    "upstream %s answered with more than %d bytes; refused",
                    up.label,
                    self._max_bytes,
                )
                raise UpstreamUnavailable(server, "too_large", limit=self._max_bytes) from None
            if isinstance(exchange.refused, EncodedResponseRefused):
                log.warning("upstream %s sent a compressed answer; refused", up.label)
                raise UpstreamUnavailable(server, "invalid") from None
            why = _transport_failure(exc, exchange)
            if why is None:
                raise  # the upstream's own answer (unknown tool, bad arguments, ...)
            self._drop(up, why)
            if why == "session lost":
                raise _SessionLost from None
            raise UpstreamUnavailable(server) from None
        except TimeoutError:
            self._drop(up, f"no answer within {self._timeout:g}s")
            raise UpstreamUnavailable(server) from None
        except ValidationError as exc:  # (a ValueError too, so first) the answer is not MCP
            log.warning(
                "upstream %s gave an invalid answer: %s", up.label, _describe(exc, up.secrets)
            )
            raise UpstreamUnavailable(server, "invalid") from None
        except ValueError as exc:
            # Raised before sending: the arguments cannot be serialized (nested 255 deep
            # or more). The caller's bad request; the client is fine.
            log.info("arguments for %s refused: %s", up.label, _describe(exc, up.secrets))
            raise MCPError(
                types.INVALID_PARAMS,
                "Invalid params: the arguments cannot be sent upstream (nested too deeply)",
            ) from None
        except UpstreamUnavailable:
            raise
        except Exception as exc:
            if up.ended or not isinstance(exc, RuntimeError):
                self._drop(up, _describe(exc, up.secrets))
                raise UpstreamUnavailable(server) from None
            # The SDK's checks of an answer (structured content against the tool's
            # output schema, an input request it cannot serve): the upstream's fault.
            log.warning(
                "upstream %s gave an unusable answer: %s", up.label, _describe(exc, up.secrets)
            )
            raise UpstreamUnavailable(server, "invalid") from None
        finally:
            EXCHANGE.reset(token)

    async def _pages(
        self,
        up: _Upstream,
        what: str,
        fetch: Callable[[str | None], Awaitable[Any]],
        items: Callable[[Any], list[T]],
    ) -> list[T]:
        """Every page of a listing, up to MAX_PAGES pages and MAX_ITEMS items."""
        found: list[T] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await fetch(cursor)
            found.extend(items(page))
            if len(found) > MAX_ITEMS:
                log.warning(
                    "upstream %s lists more than %d %s; the rest is left out",
                    up.label,
                    MAX_ITEMS,
                    what,
                )
                return found[:MAX_ITEMS]
            cursor = page.next_cursor
            if not cursor:
                return found
        log.warning(
            "upstream %s lists %s in more than %d pages; the rest is left out",
            up.label,
            what,
            MAX_PAGES,
        )
        return found

    # ----- clients: finding, opening, closing

    def _current(
        self, user_id: str, server: AnyServer, egress: bool | None = None
    ) -> _Upstream | None:
        up = self._clients.get((user_id, server.id))
        if up is None or up.version != server.updated_at or up.ended:
            return None
        if egress is not None and up.egress != egress:
            return None
        return up

    @asynccontextmanager
    async def _using(
        self, user_id: str, server: AnyServer, egress: bool = False
    ) -> AsyncIterator[_Upstream]:
        up = await self._acquire(user_id, server, egress)
        try:
            await up.ready.wait()
            if up.client is None or up.ended:
                raise UpstreamUnavailable(server)
            yield up
        finally:
            up.inflight -= 1
            up.last_used = anyio.current_time()
            if up.retired and up.inflight == 0:
                up.closing.set()

    async def _acquire(self, user_id: str, server: AnyServer, egress: bool) -> _Upstream:
        """The client for this user, server and record version (counted as in use): the
        one in the pool, or a new one this request opens (the others wait for it)."""
        if self._tg is None:
            raise RuntimeError("the upstream pool is not running (enter running() first)")
        hosted = server.transport == "stdio"
        if hosted and (self._stdio is None or not server.command):
            log.warning("server %s is a stdio server and hosting is off here", server.id)
            raise UpstreamUnavailable(server)
        if not hosted and (server.transport not in ("streamable_http", "sse") or not server.url):
            log.warning("server %s is not an HTTP MCP server; the proxy cannot reach it", server.id)
            raise UpstreamUnavailable(server)
        egress = egress and hosted
        key = (user_id, server.id)
        up = self._clients.get(key)
        if up is not None and (up.version != server.updated_at or up.egress != egress):
            # a changed URL, header, command or credential, or another egress: reopen
            self._retire(up, "changed")
            up = None
        if up is not None and not up.ended:
            self._clients.move_to_end(key)
            up.inflight += 1
            return up
        if up is not None:
            self._retire(up, None)
        up = _Upstream(
            key=key,
            version=server.updated_at,
            egress=egress,
            hosted=hosted,
            label=_label(user_id, server),
        )
        self._make_room(user_id, hosted)
        self._clients[key] = up
        up.inflight += 1
        try:
            with anyio.fail_after(self._timeout):
                values = await self._resolve(server)
            headers = {} if hosted else upstream_headers(server, values)
        except BaseException as exc:
            up.ended = True
            up.ready.set()
            self._retire(up, None)
            up.inflight -= 1
            if isinstance(exc, Exception):
                log.warning("upstream %s: its credentials: %s", up.label, _describe(exc, ()))
                raise UpstreamUnavailable(server) from None
            raise
        up.secrets = _secrets(server, values, headers)
        self._base.copy().run(self._tg.start_soon, self._own, up, server, headers, values)
        return up

    def _make_room(self, user_id: str, hosted: bool) -> None:
        """Caps per kind: HTTP clients and sandboxes are counted apart."""
        max_per_user, max_total = self._max_per_user, self._max_total
        if hosted and self._stdio is not None:
            max_per_user, max_total = self._stdio.max_per_user, self._stdio.max_total
        kind = [up for up in self._clients.values() if up.hosted == hosted]
        mine = [up for up in kind if up.key[0] == user_id]
        while len(mine) >= max_per_user:
            self._retire(mine.pop(0), "evicted")
        while len(kind) >= max_total:
            self._retire(kind.pop(0), "evicted")

    def _retire(self, up: _Upstream, why: Closed | None) -> None:
        """Out of the pool; closed now, or when its last call returns."""
        if self._clients.get(up.key) is up:
            del self._clients[up.key]
        if up.retired:
            return
        up.retired = True
        if why is not None:
            self._closed[why] += 1
            log.info("upstream %s: closed (%s)", up.label, why)
        if up.inflight == 0:
            up.closing.set()

    def _drop(self, up: _Upstream, why: str) -> None:
        """A client that failed: out of the pool (the next request opens a new one)."""
        if not up.retired:
            log.warning("upstream %s: %s; its client is closed", up.label, why)
        self._retire(up, "broken")

    async def _own(
        self,
        up: _Upstream,
        server: AnyServer,
        headers: dict[str, str],
        values: dict[str, str],
    ) -> None:
        """The owner task: opens the client (within the timeout), keeps it until it is
        retired, then closes it (within the timeout too)."""
        self._owned.add(up)
        try:
            with up.scope:
                up.scope.deadline = anyio.current_time() + self._timeout
                try:
                    async with AsyncExitStack() as stack:
                        client = await self._connect(stack, up, server, headers, values)
                        up.scope.deadline = math.inf
                        up.client = client
                        self._opened += 1
                        log.info(
                            "upstream %s: opened, protocol %s", up.label, client.protocol_version
                        )
                        up.ready.set()
                        await up.closing.wait()
                        up.scope.deadline = anyio.current_time() + self._timeout
                except Exception as exc:
                    log.warning("upstream %s: %s", up.label, _describe(exc, up.secrets))
            if up.scope.cancelled_caught and up.client is None:
                log.warning("upstream %s: not open within %gs", up.label, self._timeout)
        finally:
            up.ended = True
            up.ready.set()
            self._owned.discard(up)
            if not up.retired:  # it ended on its own: a broken stream, a failed open
                self._retire(up, "broken" if up.client is not None else None)

    async def _connect(
        self,
        stack: AsyncExitStack,
        up: _Upstream,
        server: AnyServer,
        headers: dict[str, str],
        values: dict[str, str],
    ) -> Client:
        if up.hosted:
            assert self._stdio is not None
            transport: Any = sandboxed(
                self._stdio,
                up.key[0],
                server,
                {name: values[name] for name in server.env if name in values},
                egress=up.egress,
                label=up.label,
                secrets=up.secrets,
            )
            return await stack.enter_async_context(self._client(transport))
        assert server.url is not None
        bounds = httpx2.Timeout(self._timeout, read=max(self._timeout, _STREAM_READ_SECONDS))

        def http_client(
            headers: dict[str, str] | None = None,
            timeout: httpx2.Timeout | None = None,
            auth: httpx2.Auth | None = None,
        ) -> httpx2.AsyncClient:
            return guarded_client(
                reach=self._reach,
                headers=headers,
                timeout=timeout or bounds,
                max_response_bytes=self._max_bytes,
            )

        if server.transport == "sse":
            transport = sse_client(
                server.url,
                headers=headers,
                timeout=self._timeout,
                sse_read_timeout=max(self._timeout, _STREAM_READ_SECONDS),
                httpx_client_factory=http_client,
            )
        else:
            http = await stack.enter_async_context(http_client(headers=headers))
            transport = streamable_http_client(
                server.url, http_client=http, max_sse_event_size=self._max_bytes
            )
        return await stack.enter_async_context(self._client(transport))

    def _client(self, transport: Any) -> Client:
        # mode="auto": a 2026-07-28 upstream gets 2026 (server/discover), a 2025 one the
        # handshake. cache=None: every list and read reaches the upstream (the policy
        # decides on what it says now, and the pool is not where answers are kept).
        return Client(
            transport,
            mode="auto",
            cache=None,
            read_timeout_seconds=self._timeout,
            client_info=_CLIENT_INFO,
        )


def _transport_failure(exc: MCPError, exchange: Exchange) -> str | None:
    """Why the SDK failed the request on its side, or None for the upstream's own error."""
    if exc.code == types.REQUEST_TIMEOUT:
        return "timed out"
    if exc.code == types.CONNECTION_CLOSED and (
        exc.message == "Connection closed" or exc.message.startswith("SSE stream")
    ):
        return "connection lost"
    status = exchange.status
    if status == 404 and exchange.in_session:
        # The upstream no longer knows the session (2025 revisions: the client must
        # initialize a new one), whatever error its body carries.
        return "session lost"
    if status is not None and status >= 400 and (exc.code, exc.message) in _MADE_UP:
        return f"HTTP {status}"
    if exc.code == types.INVALID_REQUEST and exc.message.startswith("Redirect to"):
        return "redirected elsewhere (not followed)"
    if exc.code == types.INVALID_REQUEST and exc.message.startswith("Unexpected content type"):
        return "not an MCP answer (content type)"
    return None


def _event_too_large(exc: MCPError) -> bool:
    """httpx2's own cap on one event (max_sse_event_size) rather than ours."""
    return exc.code == types.CONNECTION_CLOSED and "byte limit" in exc.message


def _label(user_id: str, server: AnyServer) -> str:
    host = "stdio" if server.transport == "stdio" else urlsplit(server.url or "").hostname or "?"
    return f"{server.name!r} ({server.id}, {host}) for {user_id}"


def _secrets(server: AnyServer, values: dict[str, str], headers: dict[str, str]) -> tuple[str, ...]:
    """What must never reach the log: credential values, header values, the URL's query;
    each also as an exception's text quotes it (`repr` of the str, of its UTF-8 bytes: h11's
    "Illegal header value b'sk-...\\n'" is not the value's own spelling)."""
    query = urlsplit(server.url or "").query
    found = {*values.values(), *headers.values(), query}
    forms = {form for s in found for form in (s, repr(s)[1:-1], repr(s.encode())[2:-1])}
    return tuple(sorted((s for s in forms if len(s) >= 4), key=len, reverse=True))


def _describe(exc: BaseException, secrets: tuple[str, ...]) -> str:
    """One line naming the exception types (an ExceptionGroup's leaves) and their text,
    with the causes' (an errno is often there), secrets masked."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e, secrets) for e in exc.exceptions)
    parts: list[str] = []
    link: BaseException | None = exc
    for _ in range(6):
        if link is None:
            break
        if isinstance(link, BaseExceptionGroup):  # e.g. one OSError per address tried
            parts.append(f"({_describe(link, secrets)})")
            break
        part = f"{type(link).__name__}: {str(link)[:200]}"
        if not parts or not parts[-1].endswith(str(link)[:200]):  # the same words again
            parts.append(part)
        link = link.__cause__ or link.__context__
    text = " <- ".join(parts)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


# The SDK logs our byte-bound refusals as errors with a traceback; our WARNING says it all.
_SDK_LOGGERS = ("mcp.client.streamable_http", "mcp.client.sse")


class _QuietRefusals(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ResponseTooLarge | EncodedResponseRefused)
