"""One run: Redis, the gateway, the tenant, each selected endpoint under wrk."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench import REPO
from bench.harness import log
from bench.harness.cpu import _redis_cpu, process_cpu_seconds
from bench.harness.endpoint import probe_status, selected
from bench.harness.gateway import Server, gateway_env, gateway_module_file
from bench.harness.load import LoadConfig, write_script, wrk
from bench.harness.profile import profiled_run
from bench.harness.scenarios import ENDPOINTS
from bench.harness.scenarios.burst import burst
from bench.harness.scenarios.mcp import McpRig, probe_mcp
from bench.harness.scenarios.view import GenerationBumper, ViewWrites
from bench.harness.tenant import LISTINGS, USER, Tenant, seed, token_for


def one_run(
    args: argparse.Namespace, config: LoadConfig, src: Path, run_no: int, tmp: Path
) -> dict[str, Any]:
    from bench._redis import throwaway_redis
    from bench.marketplace import write_catalog
    from tests.fixtures.redis_server import free_port

    catalog = write_catalog(tmp, LISTINGS * args.scale)
    run: dict[str, Any] = {"run": run_no, "started": dt.datetime.now(dt.UTC).isoformat()}
    with throwaway_redis() as (redis_url, redis_version):
        run["redis_version"] = redis_version
        port = free_port()
        env = gateway_env(src, redis_url, port, catalog)
        env.update(dict(item.split("=", 1) for item in args.gateway_env))
        run["gateway_module"] = gateway_module_file(src, env)
        gateway = Server(
            "gateway", [sys.executable, "-m", "gateway.cli", "serve"], src, env, port, tmp
        )
        bare: Server | None = None
        mcp: McpRig | None = None
        try:
            gateway.wait_ready("/readyz")
            log(f"run {run_no}: gateway pid {gateway.proc.pid} on {gateway.base}; seeding")
            tenant = seed(gateway.base, args.scale)
            run["tenant"] = tenant.counts | {"seed_seconds": tenant.seconds}
            log(f"run {run_no}: seeded {tenant.counts} in {tenant.seconds} s")
            body_file = tmp / "view.json"
            body_file.write_bytes(tenant.view_bytes)
            bare_port = free_port()
            bare = Server(
                "bare",
                [sys.executable, "-m", "bench.bare_app", "--port", str(bare_port),
                 "--body", str(body_file), "--content-type", tenant.view_content_type],
                REPO,
                {**os.environ, "PYTHONPATH": str(REPO)},
                bare_port,
                tmp,
            )  # fmt: skip
            bare.wait_ready("/v1/mcp-servers")
            token = token_for(USER)
            if any(e.mcp_sessions and selected(args, e) for e in ENDPOINTS):
                mcp = McpRig.start(gateway, token, tmp)
            run["endpoints"] = measure(
                args, config, gateway, bare, tenant, redis_url, token, tmp, mcp
            )
            if not args.only or "burst" in args.only:
                run["burst"] = burst(gateway.base, args.burst)
        finally:
            if bare is not None:
                bare.stop()
            if mcp is not None:
                mcp.upstream.stop()
            gateway.stop()
            run["gateway_log_tail"] = gateway.output()[-2000:]
    return run


def measure(
    args: argparse.Namespace,
    config: LoadConfig,
    gateway: Server,
    bare: Server,
    tenant: Tenant,
    redis_url: str,
    token: str,
    tmp: Path,
    mcp: McpRig | None = None,
) -> list[dict[str, Any]]:
    import redis

    info = redis.Redis.from_url(redis_url)
    results = []
    for endpoint in ENDPOINTS:
        if not selected(args, endpoint):
            continue
        upstream = mcp.upstream if mcp else None
        server = {"bare": bare, "upstream": upstream}.get(endpoint.target) or gateway
        sessions = mcp.sessions[endpoint.target] if mcp and endpoint.mcp_sessions else None
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
        if sessions:
            status = probe_mcp(server.base, endpoint, path, token, sessions[0])
        else:
            status = probe_status(server.base, endpoint, path, token)
        row["probe_status"] = status
        if endpoint.hook_until_routed and status == 404:
            row["skipped"] = f"{endpoint.method} {path} answers 404: the route does not exist yet"
            log(f"SKIPPED {endpoint.label}: {row['skipped']}")
            results.append(row)
            continue
        rotation = (
            [endpoint.path.format(server_id=i) for i in tenant.server_ids]
            if endpoint.rotate
            else None
        )
        script = write_script(tmp, endpoint, token, rotation, sessions)
        # Through the proxy, the upstream's CPU is part of each call's cost too.
        behind = upstream if sessions and server is gateway else None
        bumper = GenerationBumper(redis_url, USER) if endpoint.cold else None
        views = ViewWrites(redis_url, USER) if endpoint.key.startswith("view_") else None
        try:
            if bumper:
                bumper.__enter__()
            log(f"{endpoint.label}: warm-up {config.warmup:g} s, then {config.duration:g} s")
            if config.warmup > 0:
                wrk(config, url, script, config.warmup)
            writes_before = views.count if views else 0
            bumps_before = bumper.bumps if bumper else 0
            cpu_before = process_cpu_seconds(server.proc.pid)
            behind_before = process_cpu_seconds(behind.proc.pid) if behind else 0.0
            redis_cpu_before = _redis_cpu(info)
            result, wrk_cpu = wrk(config, url, script, config.duration)
            cpu = process_cpu_seconds(server.proc.pid) - cpu_before
            if behind:
                behind_cpu = process_cpu_seconds(behind.proc.pid) - behind_before
                row["upstream_cpu_ms_per_request"] = round(
                    1000 * behind_cpu / max(1, result.requests), 3
                )
            redis_cpu = _redis_cpu(info) - redis_cpu_before
            time.sleep(0.2)  # the last keyspace events arrive
            if views:
                writes = views.count - writes_before
                row["view_cache_writes"] = writes
                row["view_cache_miss_share"] = round(writes / max(1, result.requests), 3)
            if bumper:
                row["generation_bumps"] = bumper.bumps - bumps_before
        finally:
            if bumper:
                bumper.__exit__(None, None, None)
            if views:
                views.close()
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
            f"p99 {result.p99_ms:.1f} ms, non-2xx {result.non_2xx}"
            + (f", miss share {row['view_cache_miss_share']}" if views else "")
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
        results.append(row)
    info.close()
    return results
