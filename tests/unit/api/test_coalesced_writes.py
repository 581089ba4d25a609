"""An answer's writes in one system call (gateway/api/edge/coalesced_writes.py), on a real
TCP connection: what one turn of the loop writes reaches the transport as one `writelines`,
in order and whole; closing writes what is queued first; aborting drops it."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.api.edge.coalesced_writes import CoalescedWrites


async def _connected() -> tuple[asyncio.Transport, asyncio.StreamReader, asyncio.Server]:
    accepted: asyncio.Queue[asyncio.StreamReader] = asyncio.Queue()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put(reader)

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
    return transport, await accepted.get(), server


async def test_one_turns_writes_reach_the_transport_as_one_call_in_order() -> None:
    transport, peer, server = await _connected()
    calls: list[list[bytes]] = []
    real = transport.writelines

    def counted(lines: Any) -> None:
        calls.append(list(lines))
        real(lines)

    transport.writelines = counted  # type: ignore[method-assign]
    writes = CoalescedWrites(transport, asyncio.get_running_loop())
    try:
        writes.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
        writes.write(b"hello")
        assert calls == []  # nothing before the turn ends
        await asyncio.sleep(0)
        assert calls == [[b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", b"hello"]]
        writes.writelines([b"second", b" answer"])
        await asyncio.sleep(0)
        assert len(calls) == 2
        got = await peer.readexactly(len(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello") + 13)
        assert got.endswith(b"hellosecond answer")
        assert not writes.is_closing()  # the transport's own answer
    finally:
        transport.close()
        server.close()
        await server.wait_closed()


async def test_close_writes_what_is_queued_first_and_abort_drops_it() -> None:
    transport, peer, server = await _connected()
    writes = CoalescedWrites(transport, asyncio.get_running_loop())
    writes.write(b"last words")
    writes.close()
    assert await peer.read() == b"last words"  # then end of stream
    server.close()

    transport, peer, server = await _connected()
    writes = CoalescedWrites(transport, asyncio.get_running_loop())
    writes.write(b"never sent")
    writes.abort()
    await asyncio.sleep(0)  # the flush the write scheduled finds nothing
    assert await peer.read() == b""
    server.close()
    await server.wait_closed()
