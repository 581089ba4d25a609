"""The proxy's HTTP to upstreams (httpx2/httpcore2, the MCP SDK's HTTP stack since 2.x).

The connection guard: the proxy connects only to globally reachable addresses and those the
deployment allows (GATEWAY_PRIVATE_UPSTREAM_CIDRS, GATEWAY_ALLOW_PRIVATE_UPSTREAMS), by the
rule that checked the server's URL when it was saved (gateway/domain/targets.py). Here every
address the host resolves to is checked, so a public name that resolves to 127.0.0.1 or to
cloud metadata is refused too. The check and the connect use the same resolved address (no
second lookup a rebinding DNS server could answer differently); TLS still verifies the URL's
host name.

The answer bound: every response body is counted as it streams, so an upstream answer larger
than GATEWAY_MCP_MAX_RESPONSE_BYTES is refused after reading about that much, never held
whole. A JSON body is counted whole, an event stream per event (a long-lived stream carries
many answers). The refusal is an `httpx2.StreamError`, which the SDK turns into an error for
that one request: the client stays usable.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import AsyncIterator, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import anyio
import httpcore2
import httpx2

from gateway.domain.targets import UpstreamReach, refusal_message


class UpstreamRefused(httpcore2.ConnectError):
    """The upstream's address is not global and the deployment does not allow it."""


class ResponseTooLarge(httpx2.StreamError):
    """An upstream answer over the byte bound (read up to the bound, then dropped)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the upstream's answer is larger than {limit} bytes")
        self.limit = limit


class EncodedResponseRefused(httpx2.StreamError):
    """A compressed answer although `identity` was asked for: decoding it would undo the
    byte bound (a few KB of gzip can be gigabytes), so it is refused instead."""


@dataclass
class Exchange:
    """What the HTTP layer saw of the requests of one pool operation. The caller sets it in
    `EXCHANGE`; the SDK sends each request in a task that inherits the caller's contextvars,
    so the transport below reports into the caller's own object (concurrent operations on
    one client each see only theirs)."""

    status: int | None = None  # of the last response
    in_session: bool = False  # its request carried an Mcp-Session-Id (a 2025 session)
    refused: httpx2.StreamError | None = None  # an answer the bound refused, and why


EXCHANGE: ContextVar[Exchange | None] = ContextVar("upstream_exchange", default=None)


class GuardedBackend(httpcore2.AsyncNetworkBackend):
    def __init__(self, *, reach: UpstreamReach) -> None:
        self._reach = reach
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore2's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        with anyio.fail_after(timeout):
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses:
            raise httpcore2.ConnectError(f"{host} does not resolve")
        for address in addresses:  # every one: the one connected to now, or on a retry
            kind = self._reach.refusal(address)
            if kind is not None:
                raise UpstreamRefused(refusal_message(f"{host} resolves to", kind))
        return await self._inner.connect_tcp(
            str(addresses[0]),
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore2's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise httpcore2.ConnectError("the proxy does not connect to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# The end of an event in an event stream: a blank line, in any of its line endings.
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


class _Bounded(httpx2.AsyncByteStream):
    """A response body counted as it streams; over `limit`, ResponseTooLarge. A JSON body
    is counted whole (a Content-Length over the limit is refused before reading); an event
    stream counts the bytes since the last event ended."""

    def __init__(
        self,
        inner: httpx2.AsyncByteStream,
        limit: int,
        *,
        events: bool,
        declared: int | None,
        encoded: str | None,
    ) -> None:
        self._inner = inner
        self._limit = limit
        self._events = events
        self._declared = declared
        self._encoded = encoded

    def _refuse(self, exc: httpx2.StreamError) -> httpx2.StreamError:
        exchange = EXCHANGE.get()
        if exchange is not None:
            exchange.refused = exc
        return exc

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._encoded is not None:
            raise self._refuse(EncodedResponseRefused(f"content-encoding {self._encoded!r}"))
        if self._declared is not None and self._declared > self._limit:
            raise self._refuse(ResponseTooLarge(self._limit))
        pending = 0  # bytes counted against the limit (of the event not ended yet)
        tail = b""  # the last bytes of the previous chunk (an event end may straddle two)
        async for chunk in self._inner:
            if self._events:
                pending = self._count_events(pending, tail, chunk)
                tail = (tail + chunk)[-3:]
            else:
                pending += len(chunk)
            if pending > self._limit:
                raise self._refuse(ResponseTooLarge(self._limit))
            yield chunk

    def _count_events(self, pending: int, tail: bytes, chunk: bytes) -> int:
        """Each event ending in `chunk` is checked whole; returns the bytes of the event
        still open. `tail` was counted already (an end wholly inside it was seen too)."""
        joined = tail + chunk
        counted = len(tail)
        for end in _EVENT_END.finditer(joined):
            if end.end() <= len(tail):
                continue
            if pending + end.end() - counted > self._limit:
                raise self._refuse(ResponseTooLarge(self._limit))
            pending, counted = 0, end.end()
        return pending + len(joined) - counted

    async def aclose(self) -> None:
        await self._inner.aclose()


class _GuardedTransport(httpx2.AsyncHTTPTransport):
    def __init__(self, *, reach: UpstreamReach, max_response_bytes: int | None) -> None:
        super().__init__(trust_env=False)
        # httpx2 takes no network backend; its pool does (the pool is what it wraps).
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(trust_env=False),
            network_backend=GuardedBackend(reach=reach),
        )
        self._limit = max_response_bytes

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await super().handle_async_request(request)
        exchange = EXCHANGE.get()
        if exchange is not None:
            exchange.status = response.status_code
            exchange.in_session = "mcp-session-id" in request.headers
        if self._limit is not None:
            assert isinstance(response.stream, httpx2.AsyncByteStream)
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            declared = response.headers.get("content-length", "")
            response.stream = _Bounded(
                response.stream,
                self._limit,
                events=response.headers.get("content-type", "").startswith("text/event-stream"),
                declared=int(declared) if declared.isdigit() else None,
                encoded=None if encoding == "identity" else encoding,
            )
        return response


def guarded_client(
    *,
    reach: UpstreamReach,
    headers: dict[str, str] | None = None,
    timeout: httpx2.Timeout,
    max_response_bytes: int | None = None,
) -> httpx2.AsyncClient:
    """An httpx2 client whose every connection goes through the guard; no proxy from the
    environment (a proxy's address is not the upstream's), no redirects followed by httpx2
    (the MCP SDK follows same-origin ones itself, and those connect through the guard too).
    With `max_response_bytes`, every answer is bounded (and asked for uncompressed)."""
    transport = _GuardedTransport(reach=reach, max_response_bytes=max_response_bytes)
    client = httpx2.AsyncClient(
        transport=transport, headers=headers, timeout=timeout, follow_redirects=False
    )
    if max_response_bytes is not None:
        client.headers["accept-encoding"] = "identity"
    return client
