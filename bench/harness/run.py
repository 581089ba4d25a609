"""One run: Redis, the gateway, the tenant, each selected endpoint under wrk."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import shutil
import time
from pathlib import Path
from typing import Any

from bench._auth import token_for
from bench._catalog import write_catalog
from bench._process import Server, gateway_env, start_gateway
from bench.harness import log
from bench.harness.cpu import process_cpu_seconds, redis_cpu_seconds
from bench.harness.endpoint import Endpoint, probe_status, selected
from bench.harness.gateway import gateway_module_file, harness_settings
from bench.harness.load import LoadConfig, write_script, wrk
from bench.harness.profile import profiled_run
from bench.harness.scenarios import ENDPOINTS, bare
from bench.harness.scenarios.burst import burst
from bench.harness.scenarios.mcp import McpRig, probe_mcp
from bench.harness.tenant import LISTINGS, USER, Tenant, seed


def one_run(
    args: argparse.Namespace, config: LoadConfig, src: Path, run_no: int, tmp: Path
) -> dict[str, Any]:
    from bench._redis import throwaway_redis
    from tests.fixtures.redis_server import free_port

    catalog = write_catalog(tmp, LISTINGS * args.scale)
    run: dict[str, Any] = {"run": run_no, "started": dt.datetime.now(dt.UTC).isoformat()}
    with throwaway_redis() as (redis_url, redis_version):
        run["redis_version"] = redis_version
        env = gateway_env(src, redis_url, free_port(), **harness_settings(catalog))
        env.update(dict(item.split("=", 1) for item in args.gateway_env))
        run["gateway_module"] = gateway_module_file(src, env)
        gateway = start_gateway(src, env, tmp)
        try:
            with contextlib.ExitStack() as stack:
                gateway.wait_ready("/readyz")
                log(f"run {run_no}: gateway pid {gateway.proc.pid} on {gateway.base}; seeding")
                tenant = seed(gateway.base, args.scale)
                run["tenant"] = tenant.counts | {"seed_seconds": tenant.seconds}
                log(f"run {run_no}: seeded {tenant.counts} in {tenant.seconds} s")
                servers = {"gateway": gateway, "bare": bare.start(tenant, tmp)}
                stack.callback(servers["bare"].stop)
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
        finally:
            gateway.stop()
            run["gateway_log_tail"] = gateway.output()[-2000:]
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
    """One row: a probe, a discarded warm-up, the measured run with the CPU each process used,
    and a py-spy run when asked."""
    import redis

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
        cpu_before = process_cpu_seconds(server.proc.pid)
        behind_before = process_cpu_seconds(behind.proc.pid) if behind else 0.0
        redis_cpu_before = redis_cpu_seconds(info)
        result, wrk_cpu = wrk(config, url, script, config.duration)
        cpu = process_cpu_seconds(server.proc.pid) - cpu_before
        if behind:
            behind_cpu = process_cpu_seconds(behind.proc.pid) - behind_before
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
        "socket_errors": result.socket_errors,
        "server_cpu_share": round(cpu / result.seconds, 3),
        "server_cpu_ms_per_request": round(1000 * cpu / max(1, result.requests), 3),
        "redis_cpu_share": round(redis_cpu / result.seconds, 3),
        "wrk_cpu_share": round(wrk_cpu / result.seconds, 3),
        "wrk_text": result.text,
        "wrk_stdout": result.stdout,
    }
    log(
        f"{endpoint.label}: {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms, non-2xx {result.non_2xx}{noted}"
    )
    if endpoint.key in args.profile and endpoint.key not in args.profiled:
        raw = tmp / f"{endpoint.key}.pyspy.txt"
        log(f"profiling {endpoint.label} with py-spy for {config.duration:g} s")
        row["profile"] = profiled_run(config, url, script, server.proc.pid, raw, endpoint.label)
        if raw.exists() and args.profile_raw:
            kept = args.profile_raw.with_name(
                args.profile_raw.name.replace(".pyspy", f".{endpoint.key}.pyspy")
            )
            shutil.copyfile(raw, kept)
            row["profile"]["raw_file"] = str(kept)
        args.profiled.add(endpoint.key)
    return row
