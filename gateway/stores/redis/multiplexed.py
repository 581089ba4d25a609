"""One Redis connection shared by every request of the process for the read each of them makes
(gateway/stores/redis/subject_reads.py): commands are written in the order they are asked and
replies matched in that order (Redis answers a connection's commands in order), and what is
asked in the same turn of the event loop is written at once — automatic pipelining. Under load
one send and one receive carry several requests' reads; even alone a read skips the pool, the
retry wrapper and the health check redis-py's client runs for every command.

Fail closed, never a guess: a reply that does not come within `timeout` seconds, a refused or
dropped connection, or an error reply raises (RedisConnectionError, RedisTimeoutError,
ResponseError: a 503 through `translate_errors`), and a timeout or a drop closes the
connection so no later reply can be matched to the wrong request; the next call reconnects.
Nothing is retried: the read counts a request against the rate limit, and a retry could count
it twice.

Plain TCP only (`redis://`, with AUTH and SELECT); `rediss://` and unix sockets keep redis-py's
client (`supports`)."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import hiredis
from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.observability.metrics import ROUND_TRIPS


def supports(url: str) -> bool:
    return url.startswith("redis://")


class _Protocol(asyncio.Protocol):
    def __init__(self, owner: MultiplexedConnection) -> None:
        self._owner = owner
        self._reader = hiredis.Reader(replyError=ResponseError)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        pending = self._owner.pending
        while True:
            try:
                reply = self._reader.gets()
            except hiredis.ProtocolError as exc:
                self._owner.broken(RedisConnectionError(f"redis protocol error: {exc}"))
                return
            if reply is False:
                return
            if not pending:  # a reply nobody asked for: the stream cannot be trusted
                self._owner.broken(RedisConnectionError("redis sent an unexpected reply"))
                return
            waiter, _deadline = pending.popleft()
            if waiter.done():  # its caller timed out (the connection is closing anyway)
                continue
            if isinstance(reply, ResponseError):
                waiter.set_exception(reply)
            else:
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner.broken(RedisConnectionError(f"redis connection lost ({exc or 'closed'})"))


class MultiplexedConnection:
    def __init__(self, url: str, *, timeout: float = 2.0, connect_timeout: float = 2.0) -> None:
        options = parse_url(url)
        self._host = str(options.get("host", "localhost"))
        self._port = int(options.get("port", 6379))
        self._hello: list[tuple[Any, ...]] = []
        if options.get("password"):
            username = options.get("username")
            credentials = (username, options["password"]) if username else (options["password"],)
            self._hello.append(("AUTH", *credentials))
        if int(options.get("db", 0) or 0):
            self._hello.append(("SELECT", int(options["db"])))
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        # Waiters in the order their commands were written, each with its deadline.
        self.pending: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self._watch: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop  # the open transport's (set by _open)
        self._transport: asyncio.Transport | None = None
        self._connecting: asyncio.Task[asyncio.Transport] | None = None
        self._out: list[bytes] = []
        self._flush_due = False

    async def execute(self, *args: Any) -> Any:
        """One command's reply; raises as the module says, never retries."""
        transport = self._transport or await self._connect()
        ROUND_TRIPS.inc()
        # The connection's loop, not asyncio.get_running_loop(): that one asks the kernel
        # for the process id on every call (a fork check), ~3 % of a warm read.
        loop = self._loop
        waiter = loop.create_future()
        deadline = loop.time() + self._timeout
        self.pending.append((waiter, deadline))
        if self._watch is None:
            self._watch = loop.call_at(deadline, self._check_oldest)
        self._out.append(hiredis.pack_command(args))
        if not self._flush_due:
            self._flush_due = True
            loop.call_soon(self._flush, transport)
        return await waiter

    def _check_oldest(self) -> None:
        """One timer for every waiter, not one each (a timer per command was ~4 % of a warm
        read): replies come in order, so only the oldest waiter can be the first one late.
        Late: the connection is broken (every waiter fails, nothing later is mismatched);
        else the timer moves to the new oldest one's deadline."""
        self._watch = None
        if not self.pending:
            return
        loop = self._loop
        deadline = self.pending[0][1]
        if deadline <= loop.time():
            self.broken(RedisTimeoutError("redis did not answer in time"))
        else:
            self._watch = loop.call_at(deadline, self._check_oldest)

    def _flush(self, transport: asyncio.Transport) -> None:
        self._flush_due = False
        out, self._out = self._out, []
        if transport is self._transport and not transport.is_closing():
            transport.writelines(out)
        # Else the connection broke since: `broken` already failed these commands' waiters.

    async def _connect(self) -> asyncio.Transport:
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done():
                self._connecting = None

    async def _open(self) -> asyncio.Transport:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                transport, _ = await loop.create_connection(
                    lambda: _Protocol(self), self._host, self._port
                )
                self._loop = loop
                self._transport = transport
                for command in self._hello:  # AUTH, SELECT: before any other command
                    await self.execute(*command)
        except TimeoutError:
            self.broken(RedisTimeoutError("redis connect timed out"))
            raise RedisTimeoutError("redis connect timed out") from None
        except OSError as exc:
            raise RedisConnectionError(f"redis connect failed: {exc}") from exc
        except BaseException:
            self.broken(RedisConnectionError("redis connect failed"))
            raise
        return transport

    def broken(self, error: Exception) -> None:
        """Close the connection and fail every command still waiting on it."""
        transport, self._transport = self._transport, None
        self._out = []
        if transport is not None:
            transport.close()
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        while self.pending:
            waiter, _deadline = self.pending.popleft()
            if not waiter.done():
                waiter.set_exception(error)

    async def aclose(self) -> None:
        self.broken(RedisConnectionError("closed"))
