"""The multiplexed connection every request's subject read shares (gateway/stores/redis/
multiplexed.py), against a real redis-server: replies matched to their commands under
concurrency, commands asked together sent together, errors and a dead or silent server a
prompt failure (never a reply meant for another request), and a reconnect after."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.stores.redis.multiplexed import MultiplexedConnection, supports
from tests.fixtures.redis_server import start_redis_server, stop_process

pytestmark = pytest.mark.redis

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def _fake_redis(
    handle: Handler, *, reply_within: float
) -> AsyncIterator[tuple[MultiplexedConnection, list[asyncio.StreamWriter]]]:
    """A TCP server answering as `handle` does (not Redis: a silent or slow one), the shared
    connection to it, and the connections it accepted; all closed at the end."""
    accepted: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        await handle(reader, writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    shared = MultiplexedConnection(f"redis://127.0.0.1:{port}/0", timeout=reply_within)
    try:
        yield shared, accepted
    finally:
        await shared.aclose()
        server.close()
        for writer in accepted:
            writer.close()
        await server.wait_closed()


async def test_each_command_gets_its_own_reply_and_they_travel_together(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = MultiplexedConnection(redis_url)
    writes: list[int] = []
    original = MultiplexedConnection._flush

    def counted(self: MultiplexedConnection, transport: asyncio.Transport) -> None:
        writes.append(len(self._out))
        original(self, transport)

    monkeypatch.setattr(MultiplexedConnection, "_flush", counted)
    try:
        await asyncio.gather(*(shared.execute("SET", f"mx:{i}", f"v{i}") for i in range(300)))
        got = await asyncio.gather(*(shared.execute("GET", f"mx:{i}") for i in range(300)))
        assert got == [f"v{i}".encode() for i in range(300)]
        assert sum(writes) == 600 and len(writes) <= 4  # asked in one turn: written at once
        # An error reply is that command's, and the connection goes on.
        with pytest.raises(ResponseError):
            await shared.execute("INCR", "mx:1")
        assert await shared.execute("INCR", "mx:counter") == 1
    finally:
        await shared.execute("DEL", *(f"mx:{i}" for i in range(300)), "mx:counter")
        await shared.aclose()


async def test_a_silent_server_is_a_timeout_and_no_late_reply_is_misdelivered() -> None:
    """A server that reads and never answers: the waiting commands fail within the timeout
    and the connection is closed (a late answer could otherwise go to the next command)."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)

    async with _fake_redis(silent, reply_within=0.2) as (shared, accepted):
        results = await asyncio.gather(
            shared.execute("PING"), shared.execute("PING"), return_exceptions=True
        )
        assert all(isinstance(r, RedisTimeoutError) for r in results), results
        assert not shared.pending and shared._transport is None
        with pytest.raises(RedisTimeoutError):  # reconnects, and times out again
            await shared.execute("PING")
        assert len(accepted) == 2


async def test_each_command_gets_its_whole_timeout_from_when_it_was_asked() -> None:
    """One timer watches the oldest waiter (gateway/stores/redis/multiplexed.py): a command
    asked after an answered one still waits its own full timeout, and a late oldest one
    breaks the connection then, not earlier. A server that answers each PING 0.25 s after it
    came, one at a time, with a 0.4 s timeout: the second PING (asked at 0.2 s, answered at
    0.5 s) is inside its timeout though past the first one's deadline."""

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.readuntil(b"PING\r\n"):
            await asyncio.sleep(0.25)
            writer.write(b"+PONG\r\n")

    loop = asyncio.get_running_loop()
    async with _fake_redis(slow, reply_within=0.4) as (shared, _accepted):
        first = asyncio.ensure_future(shared.execute("PING"))
        await asyncio.sleep(0.2)
        asked = loop.time()
        second = await shared.execute("PING")
        assert (await first, second) == (b"PONG", b"PONG")
        assert 0.2 < loop.time() - asked < 0.4
        # Three at once: the third is answered at 0.75 s, past its 0.4 s: all of the
        # connection's waiters fail when the oldest still waiting is late.
        started = loop.time()
        results = await asyncio.gather(
            *(shared.execute("PING") for _ in range(3)), return_exceptions=True
        )
        assert results[:1] == [b"PONG"] and isinstance(results[2], RedisTimeoutError), results
        assert 0.4 <= loop.time() - started < 0.7 and shared._transport is None


async def test_a_dead_server_fails_at_once_and_a_restarted_one_is_reconnected(
    tmp_path: Path,
) -> None:
    proc, port = start_redis_server(tmp_path)
    shared = MultiplexedConnection(f"redis://127.0.0.1:{port}/0")
    try:
        assert await shared.execute("PING") == b"PONG"
        stop_process(proc)
        with pytest.raises(RedisConnectionError):
            await shared.execute("PING")
        with pytest.raises(RedisConnectionError):  # refused: still no guess
            await shared.execute("PING")
        proc, _ = start_redis_server(tmp_path, port=port)
        assert await shared.execute("PING") == b"PONG"
    finally:
        await shared.aclose()
        stop_process(proc)


async def test_password_and_database_from_the_url(tmp_path: Path) -> None:
    proc, port = start_redis_server(tmp_path)
    with redis.Redis(host="127.0.0.1", port=port) as admin:
        admin.config_set("requirepass", "s3cret")
    try:
        shared = MultiplexedConnection(f"redis://:s3cret@127.0.0.1:{port}/3")
        await shared.execute("SET", "where", "here")
        assert await shared.execute("CLIENT", "INFO") is not None
        assert b"db=3" in await shared.execute("CLIENT", "INFO")
        await shared.aclose()
        refused = MultiplexedConnection(f"redis://:wrong@127.0.0.1:{port}/0")
        with pytest.raises(ResponseError):
            await refused.execute("PING")
        await refused.aclose()
    finally:
        stop_process(proc)


def test_only_plain_tcp_urls_are_multiplexed() -> None:
    assert supports("redis://127.0.0.1:6379/0")
    assert not supports("rediss://cache.example.com:6380/0")
    assert not supports("unix:///run/redis.sock")
