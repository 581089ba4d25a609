"""Deadlines for slow clients: a connection that trickles its headers or its body holds a
socket and a request slot for as long as it likes otherwise (60 such sockets stayed open over
a minute). uvicorn times out only idle keep-alive connections, so:

- headers: `HeaderDeadlineProtocol`, uvicorn's httptools protocol with a deadline from the
  connection's (or the next request's) first byte to the end of its headers; past it (as
  one sweep per event loop finds) a 408 and the connection is closed;
- body: `receive_within` (applied by the edge, gateway/api/edge/layer.py), the whole body
  must arrive within the deadline from its first read; past it the request is a 408 and the
  connection is closed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

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
    worker: the app factory runs there).

    One sweep per event loop, not a timer per request (arming and cancelling one per
    request was ~1.5 % of a warm read): a connection waiting for headers is in the loop's
    set from their first byte; the sweep, every tenth of the deadline (at most a second),
    answers 408 to those past it. So the cut comes between the deadline and a tenth after."""

    header_timeout: ClassVar[float] = 10.0
    _headers_since: float | None = None  # loop time the headers began; None: not waiting

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._wait_for_headers()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._headers_since is None:
            self._wait_for_headers()

    def on_headers_complete(self) -> None:
        self._stop_waiting()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _wait_for_headers(self) -> None:
        self._headers_since = self.loop.time()
        sweep = _sweep_of(self.loop, self.header_timeout)
        sweep.waiting.add(self)
        if sweep.timer is None:
            sweep.start()

    def _stop_waiting(self) -> None:
        if self._headers_since is not None:
            self._headers_since = None
            _sweep_of(self.loop, self.header_timeout).waiting.discard(self)

    def _headers_too_slow(self) -> None:
        self._stop_waiting()
        if not self.transport.is_closing():
            self.transport.write(_REQUEST_TIMEOUT)
            self.transport.close()


class _Sweep:
    """The connections of one event loop that wait for headers, and the timer that checks
    them (running only while some wait)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, timeout: float, waiting: set[Any] | None = None
    ) -> None:
        self.loop = loop
        self.timeout = timeout
        self.every = min(max(timeout / 10, 0.05), 1.0)
        self.waiting: set[HeaderDeadlineProtocol] = waiting if waiting is not None else set()
        self.timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self.timer = self.loop.call_later(self.every, self.run)

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def run(self) -> None:
        self.timer = None
        late = self.loop.time() - self.timeout
        for protocol in [p for p in self.waiting if _began_before(p._headers_since, late)]:
            protocol._headers_too_slow()
        if self.waiting:
            self.start()


def _began_before(since: float | None, moment: float) -> bool:
    return since is not None and since < moment


_sweeps: dict[asyncio.AbstractEventLoop, _Sweep] = {}


def _sweep_of(loop: asyncio.AbstractEventLoop, timeout: float) -> _Sweep:
    sweep = _sweeps.get(loop)
    if sweep is not None and sweep.timeout == timeout:
        return sweep
    # First on this loop (tests run several loops: a closed loop's sweep is dropped), or the
    # deadline was changed: the waiting connections move to the new one.
    for closed in [lp for lp in _sweeps if lp.is_closed()]:
        del _sweeps[closed]
    waiting = None
    if sweep is not None:
        sweep.stop()
        waiting = sweep.waiting
    _sweeps[loop] = renewed = _Sweep(loop, timeout, waiting)
    if renewed.waiting:
        renewed.start()
    return renewed


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
