"""What a crash loses from the decision log, measured: a real gateway process on a
throwaway Redis serves `GET /v1/mcp-servers` to `--concurrency` clients; after `--seconds`
it is SIGKILLed mid-load. Every response the clients received carries the X-Decision-Id of
a decision; afterwards each id is looked up in the Redis log. Lost = answered, not logged.

Run by hand (not a test): `.venv/bin/python -m bench.audit_crash [--runs 3]`, for the
default mode and for GATEWAY_AUDIT_REQUIRED=true.

The gateway (bench/_process.py: HS256 auth on, the embedded engine, Redis stores and
decision log, WARNING logs) runs with the per-subject rate limit off: one caller, `crash`,
sends every request (no body), and its view is empty.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import tempfile
import time
from pathlib import Path

import httpx
import redis.asyncio as aredis

from bench import REPO
from bench._auth import bearer
from bench._process import gateway_env, start_gateway
from bench._redis import throwaway_redis
from gateway.audit.redis_log import RedisDecisionLog
from tests.fixtures.redis_server import free_port


async def _load(base: str, concurrency: int, stop: asyncio.Event) -> list[str]:
    headers = bearer("crash")
    answered: list[str] = []

    async def client_loop() -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=5) as client:
            while not stop.is_set():
                try:
                    response = await client.get("/v1/mcp-servers")
                except httpx.HTTPError:
                    return  # the gateway is gone
                if response.status_code == 200:
                    answered.append(response.headers["x-decision-id"])

    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    return answered


async def one_run(redis_url: str, required: bool, seconds: float, concurrency: int) -> str:
    flush = aredis.from_url(redis_url)
    await flush.flushdb()
    env = gateway_env(
        REPO,
        redis_url,
        free_port(),
        GATEWAY_AUDIT_REQUIRED="true" if required else "false",
        # One caller sends every request: the per-subject rate limit would answer 429s.
        GATEWAY_RATE_LIMIT_REQUESTS="0",
        # ... and its per-subject log budget would count its records instead of writing them
        # (issue 24): every answered decision must be looked up by id.
        GATEWAY_AUDIT_SUBJECT_BYTES_PER_MINUTE="0",
        GATEWAY_AUDIT_SUBJECT_RECORDS_PER_MINUTE="0",
    )
    with tempfile.TemporaryDirectory() as tmp:
        gateway = start_gateway(REPO, env, Path(tmp))
        try:
            gateway.wait_ready("/readyz")  # blocks the loop, which has nothing else to do yet
            stop = asyncio.Event()
            load = asyncio.create_task(_load(gateway.base, concurrency, stop))
            await asyncio.sleep(seconds)
            gateway.proc.send_signal(signal.SIGKILL)  # no shutdown, no flush: a crash
            gateway.proc.wait()
            stop.set()
            answered = await load
        finally:
            gateway.stop()
    log = RedisDecisionLog(flush)
    missing = [d for d in answered if await log.get(d) is None]
    verified = await log.verify()
    await flush.aclose()
    rate = len(answered) / seconds
    return (
        f"| {'required' if required else 'default':8} | {seconds:4.1f} | {len(answered):6} | "
        f"{rate:7.1f} | {len(missing):5} | {1000 * len(missing) / rate if rate else 0:7.1f} | "
        f"{'ok' if verified.ok else verified.detail} |"
    )


async def run(runs: int, seconds: float, concurrency: int) -> None:
    with throwaway_redis() as (url, version):
        print(f"# redis {version}; {concurrency} clients; SIGKILL after {seconds} s")
        print("| mode | s | answered | req/s | answered, not logged | = ms of traffic | chain |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for required in (False, True):
            for _ in range(runs):
                print(await one_run(url, required, seconds, concurrency), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    started = time.perf_counter()
    asyncio.run(run(args.runs, args.seconds, args.concurrency))
    print(f"(benchmark took {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
