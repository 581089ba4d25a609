"""A throwaway redis-server on a free port, for benchmarks (never the shared one on 6379).
Started the same way the test fixtures start theirs."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.fixtures.redis_server import start_redis_server, stop_process


@contextmanager
def throwaway_redis() -> Iterator[tuple[str, str]]:
    """Yield (url, server version); the server and its directory go away afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as workdir:
        proc, port = start_redis_server(Path(workdir))
        try:
            with redis.Redis(host="127.0.0.1", port=port) as probe:
                version = str(probe.info("server")["redis_version"])
            yield f"redis://127.0.0.1:{port}/0", version
        finally:
            stop_process(proc)


async def flush(url: str) -> None:
    """Empty the server's database: what one arm of a benchmark left must not be in the next."""
    import redis.asyncio as aredis

    client = aredis.from_url(url)
    await client.flushdb()
    await client.aclose()
