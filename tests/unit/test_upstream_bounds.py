"""The byte bound on upstream answers (gateway/mcp_proxy/network.py): a JSON body counted
whole, an event stream per event, a declared length refused before reading, a compressed
body refused; the refusal reported to the operation that asked (its `Exchange`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest

from gateway.mcp_proxy.network import (
    EXCHANGE,
    EncodedResponseRefused,
    Exchange,
    ResponseTooLarge,
    _Bounded,
)


class Chunks(httpx2.AsyncByteStream):
    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.read += 1
            yield chunk


async def _drain(stream: _Bounded) -> bytes:
    return b"".join([chunk async for chunk in stream])


def _bounded(
    inner: Chunks,
    limit: int = 10,
    *,
    events: bool = False,
    declared: int | None = None,
    encoded: str | None = None,
) -> _Bounded:
    return _Bounded(inner, limit, events=events, declared=declared, encoded=encoded)


async def test_a_body_is_counted_whole() -> None:
    assert await _drain(_bounded(Chunks(b"01234", b"56789"))) == b"0123456789"
    exchange = Exchange()
    token = EXCHANGE.set(exchange)
    try:
        with pytest.raises(ResponseTooLarge):
            await _drain(_bounded(Chunks(b"01234", b"56789", b"!")))
    finally:
        EXCHANGE.reset(token)
    assert isinstance(exchange.refused, ResponseTooLarge)


async def test_a_declared_length_over_the_bound_is_refused_unread() -> None:
    inner = Chunks(b"0" * 5)
    with pytest.raises(ResponseTooLarge):
        await _drain(_bounded(inner, declared=11))
    assert inner.read == 0


async def test_an_event_stream_is_counted_per_event() -> None:
    # Many small events: far more than the bound in all, each under it.
    many = Chunks(*[b"data: 12\n\n"] * 50)
    assert len(await _drain(_bounded(many, events=True))) == 500
    # An event's end straddling two chunks still ends it; \r\n endings too (events of
    # 12, 14 and 10 bytes under a bound of 16: 36 bytes in all).
    straddled = Chunks(b"data: 1234\n", b"\ndata: 1", b"234\r\n\r", b"\ndata: 12\n\n")
    assert len(await _drain(_bounded(straddled, 16, events=True))) == 36
    # One event over the bound, its end in the same chunk as its last bytes.
    with pytest.raises(ResponseTooLarge):
        await _drain(_bounded(Chunks(b"data: 12\n\n", b"data: 1234", b"5\n\n"), events=True))
    # Many events in one chunk: each is counted on its own.
    assert len(await _drain(_bounded(Chunks(b"data: 12\n\n" * 50), events=True))) == 500
    with pytest.raises(ResponseTooLarge):
        await _drain(_bounded(Chunks(b"data: 12\n\n" * 5 + b"data: 12345\n\n"), events=True))


async def test_a_compressed_body_is_refused() -> None:
    with pytest.raises(EncodedResponseRefused):
        await _drain(_bounded(Chunks(b"\x1f\x8b"), encoded="gzip"))
