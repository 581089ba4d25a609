"""One run: Redis, the gateway, the tenant, each selected endpoint under wrk."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench._auth import token_for
from bench._catalog import write_catalog
from bench._process import Server, gateway_env, start_gateway
from bench.harness import log, metrics
from bench.harness.cpu import redis_cpu_seconds, tree_cpu_seconds
from bench.harness.endpoint import Endpoint, probe_status, selected
from bench.harness.gateway import METRICS_TOKEN, gateway_module_file, harness_settings
from bench.harness.load import LoadConfig, write_script, wrk
from bench.harness.profile import profiled_run
from bench.harness.scenarios import ENDPOINTS, bare, not_modified
from bench.harness.scenarios.burst import burst
from bench.harness.scenarios.mcp import McpRig, probe_mcp
from bench.harness.tenant import LISTINGS, USER, Tenant, seed


@contextlib.contextmanager
def seeded_gateway(
    args: argparse.Namespace, src: Path, run_no: int, tmp: Path, run: dict[str, Any]
) -> Iterator[tuple[Server, str, Tenant]]:
    """A throwaway Redis, the gateway (`--workers`) on it, the tenant seeded through its API:
    (the gateway, the Redis URL, the tenant). What a run and the soak share; `run` gets the
    Redis version, the imported gateway module, the tenant and the gateway's log tail."""
    from bench._redis import throwaway_redis
    from tests.fixtures.redis_server import free_port

    catalog = write_catalog(tmp, LISTINGS * args.scale)
    with throwaway_redis() as (redis_url, redis_version):
        run["redis_version"] = redis_version
        env = gateway_env(src, redis_url, free_port(), **harness_settings(catalog))
        env.update(dict(item.split("=", 1) for item in args.gateway_env))
        run["gateway_module"] = gateway_module_file(src, env)
        gateway = start_gateway(src, env, tmp, args.workers)
        try:
            gateway.wait_ready("/readyz")
            log(
                f"run {run_no}: gateway pid {gateway.proc.pid} ({args.workers} worker(s)) on "
                f"{gateway.base}; seeding"
            )
            tenant = seed(gateway.base, args.scale)
            run["tenant"] = tenant.counts | {"seed_seconds": tenant.seconds}
            log(f"run {run_no}: seeded {tenant.counts} in {tenant.seconds} s")
            yield gateway, redis_url, tenant
        finally:
            gateway.stop()
            run["gateway_log_tail"] = gateway.output()[-2000:]


def one_run(
    args: argparse.Namespace, config: LoadConfig, src: Path, run_no: int, tmp: Path
) -> dict[str, Any]:
    run: dict[str, Any] = {"run": run_no, "started": dt.datetime.now(dt.UTC).isoformat()}
    with (
        seeded_gateway(args, src, run_no, tmp, run) as (gateway, redis_url, tenant),
        contextlib.ExitStack() as stack,
    ):
        servers = {"gateway": gateway, "bare": bare.start(tenant, tmp)}
        stack.callback(servers["bare"].stop)
        if selected(args, bare.BARE_GATEWAY_HTTP):
            servers["bare_gateway_http"] = bare.start(
                tenant, tmp, "bare_gateway_http", gateway_http=True
            )
            stack.callback(servers["bare_gateway_http"].stop)
        if selected(args, not_modified.BARE_304):
            servers["bare_304"] = bare.start(tenant, tmp, "bare_304", tenant.view_etag)
            stack.callback(servers["bare_304"].stop)
        token = token_for(USER)
        if any(e.mcp and selected(args, e) for e in ENDPOINTS):
            mcp = McpRig.start(gateway, tmp)
            stack.callback(mcp.stop)
            servers["upstream"] = mcp.upstream
        run["endpoints"] = [
            measure(args, config, endpoint, servers, tenant, redis_url, token, tmp)
            for endpoint in ENDPOINTS
            if selected(args, endpoint)
        ]
        if not args.only or "burst" in args.only:
            run["burst"] = burst(gateway.base, args.burst)
    return run


def measure(
    args: argparse.Namespace,
    config: LoadConfig,
    endpoint: Endpoint,
    servers: dict[str, Server],
    tenant: Tenant,
    redis_url: str,
    token: str,
    tmp: Path,
) -> dict[str, Any]:
    """One row: a probe, a discarded warm-up, the measured run with the CPU each process used
    (summed over its process tree: the gateway's workers) and, on gateway rows, the Redis
    round trips per request from its /metrics, and a py-spy run when asked."""
    import redis

    if endpoint.if_none_match:
        headers = (*endpoint.headers, ("If-None-Match", tenant.view_etag))
        endpoint = dataclasses.replace(endpoint, headers=headers)
    server = servers[endpoint.target]
    path = endpoint.path.format(server_id=tenant.server_id)
    url = server.base + path
    row: dict[str, Any] = {
        "key": endpoint.key,
        "label": endpoint.label,
        "method": endpoint.method,
        "path": path,
        "body": endpoint.body,
        "note": endpoint.note,
    }
    if endpoint.mcp:
        status = probe_mcp(server.base, endpoint, path, token)
    else:
        status = probe_status(server.base, endpoint, path, token)
    row["probe_status"] = status
    if endpoint.hook_until_routed and status == 404:
        row["skipped"] = f"{endpoint.method} {path} answers 404: the route does not exist yet"
    elif endpoint.if_none_match and not tenant.view_etag:
        row["skipped"] = "the gateway sent no ETag with the view: nothing to send as If-None-Match"
    elif endpoint.expect_status and status != endpoint.expect_status:
        row["skipped"] = (
            f"{endpoint.method} {path} answers {status}, not {endpoint.expect_status}, "
            f"with headers {dict(endpoint.headers[-1:])}"
        )
    if "skipped" in row:
        log(f"SKIPPED {endpoint.label}: {row['skipped']}")
        return row
    rotation = (
        [endpoint.path.format(server_id=i) for i in tenant.server_ids] if endpoint.rotate else None
    )
    script = write_script(tmp, endpoint, token, rotation)
    behind = servers[endpoint.behind] if endpoint.behind else None
    noted = ""
    with (
        redis.Redis.from_url(redis_url) as info,
        endpoint.watch(redis_url) if endpoint.watch else contextlib.nullcontext() as watch,
    ):
        log(f"{endpoint.label}: warm-up {config.warmup:g} s, then {config.duration:g} s")
        if config.warmup > 0:
            wrk(config, url, script, config.warmup)
        if watch:
            watch.mark()
        gateway_row = endpoint.target == "gateway"
        scraped = metrics.scrape(server.base, METRICS_TOKEN) if gateway_row else None
        trips_before = metrics.total(scraped, metrics.ROUND_TRIPS)
        cpu_before = tree_cpu_seconds(server.proc.pid)
        behind_before = tree_cpu_seconds(behind.proc.pid) if behind else 0.0
        redis_cpu_before = redis_cpu_seconds(info)
        result, wrk_cpu = wrk(config, url, script, config.duration)
        cpu = tree_cpu_seconds(server.proc.pid) - cpu_before
        if gateway_row:
            scraped = metrics.scrape(server.base, METRICS_TOKEN)
            trips_after = metrics.total(scraped, metrics.ROUND_TRIPS)
            # Everything the gateway sent Redis during the run (the decision log's batches
            # too) over the requests wrk completed.
            row["redis_round_trips"] = (
                None
                if trips_after is None or trips_before is None
                else round(trips_after - trips_before)
            )
            row["redis_round_trips_per_request"] = metrics.per_request(
                trips_before, trips_after, result.requests
            )
        if behind:
            behind_cpu = tree_cpu_seconds(behind.proc.pid) - behind_before
            row[f"{endpoint.behind}_cpu_ms_per_request"] = round(
                1000 * behind_cpu / max(1, result.requests), 3
            )
        redis_cpu = redis_cpu_seconds(info) - redis_cpu_before
        time.sleep(0.2)  # the last keyspace events arrive
        if watch:
            noted = watch.record(row, result.requests)
    row |= {
        "requests": result.requests,
        "seconds": result.seconds,
        "rps": result.rps,
        "p50_ms": result.p50_ms,
        "p90_ms": result.p90_ms,
        "p99_ms": result.p99_ms,
        "p999_ms": result.p999_ms,
        "max_ms": result.max_ms,
        "mean_ms": result.mean_ms,
        "non_2xx": result.non_2xx,
        "bytes_per_request": round(result.bytes / max(1, result.requests)),
        "socket_errors": result.socket_errors,
        "server_cpu_share": round(cpu / result.seconds, 3),
        "server_cpu_ms_per_request": round(1000 * cpu / max(1, result.requests), 3),
        "redis_cpu_share": round(redis_cpu / result.seconds, 3),
        "wrk_cpu_share": round(wrk_cpu / result.seconds, 3),
        "wrk_text": result.text,
        "wrk_stdout": result.stdout,
    }
    trips = row.get("redis_round_trips_per_request")
    log(
        f"{endpoint.label}: {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms, non-2xx {result.non_2xx}, "
        f"{row['bytes_per_request']} B/req, server CPU {row['server_cpu_ms_per_request']} ms/req"
        + (f", Redis round trips {trips}/req" if trips is not None else "")
        + noted
    )
    if endpoint.key in args.profile and endpoint.key not in args.profiled:
        raw = tmp / f"{endpoint.key}.pyspy.txt"
        log(f"profiling {endpoint.label} with py-spy for {config.duration:g} s")
        row["profile"] = profiled_run(
            config, url, script, server.proc.pid, raw, endpoint.label, subprocesses=args.workers > 1
        )
        if raw.exists() and args.profile_raw:
            kept = args.profile_raw.with_name(
                args.profile_raw.name.replace(".pyspy", f".{endpoint.key}.pyspy")
            )
            shutil.copyfile(raw, kept)
            row["profile"]["raw_file"] = str(kept)
        args.profiled.add(endpoint.key)
    return row
