"""Deadlines for slow clients: a connection that trickles its headers or its body holds a
socket and a request slot for as long as it likes otherwise (60 such sockets stayed open over
a minute). uvicorn times out only idle keep-alive connections, so:

- headers: `HeaderDeadlineProtocol`, uvicorn's httptools protocol with a timer from the
  connection's (or the next request's) first byte to the end of its headers; past it a 408
  and the connection is closed;
- body: `receive_within` (applied by the edge, gateway/api/edge/layer.py), the whole body
  must arrive within the deadline from its first read; past it the request is a 408 and the
  connection is closed.
"""

from __future__ import annotations

import asyncio
import time
from typing import ClassVar

from litestar.exceptions import ClientException
from litestar.types import Receive, ReceiveMessage
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.api.errors import ErrorBody, encode_error

_TIMEOUT_BODY = encode_error(
    ErrorBody(status_code=408, detail="request headers not received in time")
)
_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """`gateway serve` sets `header_timeout` from GATEWAY_HEADER_TIMEOUT_SECONDS (in each
    worker: the app factory runs there)."""

    header_timeout: ClassVar[float] = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.write(_REQUEST_TIMEOUT)
            self.transport.close()


def receive_within(receive: Receive, seconds: float) -> Receive:
    """`receive`, with the whole body due within `seconds` of its first read."""
    deadline: float | None = None
    done = False

    async def receive_in_time() -> ReceiveMessage:
        nonlocal deadline, done
        if done:  # the body is in: later reads wait for a disconnect, unbounded
            return await receive()
        if deadline is None:
            deadline = time.monotonic() + seconds
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                message = await receive()
        except TimeoutError:
            # `connection: close`: uvicorn would otherwise keep reading the rest.
            raise ClientException(
                status_code=408,
                detail="request body not received in time",
                headers={"connection": "close"},
            ) from None
        done = message["type"] != "http.request" or not message.get("more_body")
        return message

    return receive_in_time
