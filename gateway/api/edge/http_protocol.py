"""uvicorn's httptools protocol as `gateway serve` runs it: with the header deadline
(gateway/api/edge/deadlines.py) and an answer's writes coalesced into one system call
(gateway/api/edge/coalesced_writes.py)."""

from __future__ import annotations

import asyncio
from typing import cast

from gateway.api.edge.coalesced_writes import CoalescedWrites
from gateway.api.edge.deadlines import HeaderDeadlineProtocol


class GatewayHTTPProtocol(HeaderDeadlineProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # The request cycles write through it; flow control keeps the real transport.
        self.transport = cast(asyncio.Transport, CoalescedWrites(transport, self.loop))
