"""A steady request rate for the soak (wrk keeps its connections busy as fast as the server
answers; it cannot hold a rate): an open-loop paced load in its own process,
`python -m bench.harness.pace --url URL --rate R --seconds S [--connections C]` with the
bearer token in the environment (BENCH_TOKEN).

Request i is due at start + i/R whatever happened before it (open loop: a slow answer does
not slow the schedule, so a stall shows as latency, not as a lower rate). Due requests wait
in a queue for the first of C keep-alive connections that is free; each connection is a raw
asyncio stream writing prebuilt request bytes and reading the status line, the headers and
Content-Length bytes of body (or chunks), so the client costs little CPU next to the
gateway. Latency is from the due time to the last byte of the answer. A request still
queued 10 s after it was due is dropped and counted as `late` (the queue stays bounded if
the gateway falls far behind). Prints one JSON line at the end: sent, per status, errors,
late, achieved rate, p50/p99/max latency overall and per minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

LATE_S = 10.0


def _percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(share * len(sorted_values)))]


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """One HTTP/1.1 answer: (status, whether the server keeps the connection open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif status not in (204, 304) and status >= 200:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("connection") != "close"


class Pacer:
    def __init__(self, url: str, token: str, rate: float, seconds: float, connections: int):
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        self.request = (
            f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
        ).encode()
        self.rate, self.seconds, self.connections = rate, seconds, connections
        self.queue: asyncio.Queue[float] = asyncio.Queue()
        self.statuses: Counter[int] = Counter()
        self.errors = self.late = self.sent = 0
        self.latencies: list[tuple[float, float]] = []  # (due - start, seconds)
        self.start = 0.0

    async def schedule(self) -> None:
        self.start = time.monotonic()
        issued = 0
        total = int(self.rate * self.seconds)
        while issued < total:
            now = time.monotonic()
            due = min(total, int((now - self.start) * self.rate) + 1)
            for i in range(issued, due):
                self.queue.put_nowait(self.start + i / self.rate)
            issued = due
            await asyncio.sleep(max(0.0005, (self.start + issued / self.rate) - time.monotonic()))
        for _ in range(self.connections):
            self.queue.put_nowait(-1.0)  # each connection stops when it takes one

    async def connection(self) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while True:
            due = await self.queue.get()
            if due < 0:
                break
            if time.monotonic() - due > LATE_S:
                self.late += 1
                continue
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                assert reader is not None
                writer.write(self.request)
                self.sent += 1
                status, keep = await _read_answer(reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                self.errors += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.1)
                continue
            done = time.monotonic()
            self.statuses[status] += 1
            self.latencies.append((due - self.start, done - due))
            if not keep:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    async def run(self) -> dict[str, Any]:
        scheduler = asyncio.create_task(self.schedule())
        await asyncio.gather(*(self.connection() for _ in range(self.connections)))
        await scheduler
        elapsed = time.monotonic() - self.start
        return self.summary(elapsed)

    def summary(self, elapsed: float) -> dict[str, Any]:
        def stats(values: list[float]) -> dict[str, float]:
            ordered = sorted(values)
            return {
                "requests": len(ordered),
                "p50_ms": round(1000 * _percentile(ordered, 0.5), 2),
                "p99_ms": round(1000 * _percentile(ordered, 0.99), 2),
                "max_ms": round(1000 * (ordered[-1] if ordered else 0.0), 2),
                "mean_ms": round(1000 * (statistics.fmean(ordered) if ordered else 0.0), 2),
            }

        minutes: dict[int, list[float]] = {}
        for at, seconds in self.latencies:
            minutes.setdefault(int(at // 60), []).append(seconds)
        answered = len(self.latencies)
        return {
            "rate_asked": self.rate,
            "seconds": round(elapsed, 1),
            "connections": self.connections,
            "sent": self.sent,
            "answered": answered,
            "rate_achieved": round(answered / elapsed, 1) if elapsed else 0.0,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": self.errors,
            "late": self.late,
            **stats([seconds for _, seconds in self.latencies]),
            "per_minute": {str(m): stats(v) for m, v in sorted(minutes.items())},
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop  # the gateway's loop too: the client stays cheap
    except ImportError:
        pass
    pacer = Pacer(args.url, os.environ["BENCH_TOKEN"], args.rate, args.seconds, args.connections)
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        summary = runner.run(pacer.run())
    print("PACE " + json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
