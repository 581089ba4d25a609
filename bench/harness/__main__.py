"""Throughput and latency of the gateway's hot endpoints under wrk, next to a bare Litestar app.

One command: `./scripts/bench [options]` (installs wrk and redis-server with apt when missing,
the venv with the test and bench extras, then runs `.venv/bin/python -m bench.harness`).

Each run starts a throwaway redis-server and the gateway as a real process (`python -m
gateway.cli serve`: embedded engine, HS256 auth, the decision log on in Redis, WARNING logs)
on a free port; seeds a tenant through the HTTP API (bench/harness/tenant.py: the user `bench`
in 3 enterprises, 35·N servers in view at `--scale N`); then, per endpoint, a discarded wrk
warm-up and a measured wrk run (closed loop: `--connections` keep one request in flight each);
then the burst. The bare app (bench/bare_app.py, its own uvicorn process) answers the bytes of
the measured user's merged view: the floor of what Litestar + uvicorn + the loopback cost.

The rows, one module per scenario in bench/harness/scenarios/, each saying what it measures:
bare, not_modified (bare_304, view_304: the view with If-None-Match holding its ETag, a 304
with no body, against a bare app answering 304 the same way), view (view_warm, view_cold),
servers (server_get, server_patch, server_create), marketplace, mcp (mcp_direct, mcp,
mcp_list_direct, mcp_list), burst. `--only` takes these keys (`mcp` selects the four mcp
rows, `burst` the burst).

Per row: req/s, p50/p99, errors, `vs bare` (req/s over the bare row's; view_304 also over
bare_304's), the server's CPU per request (the gateway summed over its workers), and on
gateway rows the Redis round trips per request (`gateway_redis_round_trips_total` from the
gateway's /metrics before and after the measured run, over the requests wrk completed).

`--workers N`: the gateway as `gateway serve --workers N` (uvicorn's supervisor and N
workers; the bare apps stay one process). `--soak SECONDS`: instead of the rows, one seeded
gateway under view_warm's request at a steady `--soak-rate` (an open-loop paced client,
bench/harness/pace.py: wrk cannot hold a rate), its RSS (summed over its processes) sampled
every `--soak-interval` s into a CSV and a PNG; prints first/last/max RSS and the growth
from the start of the second minute to the end (bench/harness/soak.py).

`--profile`: an extra run of each named endpoint (default view_warm) with py-spy attached
(`record --format raw --nonblocking --rate 200`), summarised as the top functions by inclusive
and self share. `--gateway-src DIR`: measure the gateway of another checkout (cwd and
PYTHONPATH = DIR, this venv's python) with this harness, e.g. a baseline commit in a `git
worktree`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import REPO
from bench.harness.load import WRK_TIMEOUT, LoadConfig, ensure_wrk
from bench.harness.machine import git_info, machine_info
from bench.harness.report import chart, summary_rows, table
from bench.harness.run import one_run
from bench.harness.soak import report as soak_report
from bench.harness.soak import soak
from bench.harness.soak import write_csv as soak_csv
from bench.harness.tenant import VIEW_PATH

PROG = "python -m bench.harness"  # not __main__.py, in --help and the JSON's "command"


def main() -> None:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join((__doc__ or "").split("\n\n")[1:]),
    )
    parser.add_argument("--scale", type=int, default=1, help="tenant multiplier (default 1)")
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3, help="discarded seconds before each")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--runs", type=int, default=1, help="whole runs (fresh Redis + gateway)")
    parser.add_argument(
        "--profile",
        nargs="?",
        const="view_warm",
        default="",
        help="py-spy on these endpoint keys (comma-separated; default view_warm)",
    )
    parser.add_argument("--gateway-src", type=Path, help="measure the gateway of this checkout")
    parser.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the gateway process (repeatable), e.g. GATEWAY_AUDIT_REQUIRED=true",
    )
    parser.add_argument("--out", type=Path, help="JSON (default bench/results/harness-<N>x.json)")
    parser.add_argument("--chart", type=Path, help="PNG (default: the JSON's path, .png)")
    parser.add_argument(
        "--burst", type=int, default=500, help="concurrent requests of the burst step"
    )
    parser.add_argument("--only", help="comma-separated endpoint keys (for trying things)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="gateway worker processes (`gateway serve --workers N`; default 1)",
    )
    soaking = parser.add_argument_group("soak (instead of the rows)")
    soaking.add_argument(
        "--soak",
        type=float,
        metavar="SECONDS",
        help="run the soak for SECONDS: steady load on view_warm, the gateway's RSS sampled "
        "(JSON, CSV and PNG, default bench/results/soak-<N>x.*)",
    )
    soaking.add_argument(
        "--soak-rate",
        type=float,
        default=500,
        metavar="PER_S",
        help="requests per second, held steady (default 500)",
    )
    soaking.add_argument(
        "--soak-connections",
        type=int,
        default=16,
        metavar="N",
        help="keep-alive connections the paced requests share (default 16)",
    )
    soaking.add_argument(
        "--soak-interval",
        type=float,
        default=5,
        metavar="SECONDS",
        help="seconds between RSS samples (default 5)",
    )
    args = parser.parse_args()
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    src = (args.gateway_src or REPO).resolve()
    if not (src / "gateway" / "app.py").exists():  # gateway/cli is a module or a package
        raise SystemExit(f"{src} is not a gateway checkout (no gateway/app.py)")
    if src != REPO:
        # The gateway helpers this process borrows (token minting, the catalog's categories,
        # the Redis starter) come from the measured checkout too: a half-edited working tree
        # cannot break the measurement of a baseline.
        sys.path.insert(0, str(src))
    if args.soak is not None:
        run_soak(args, src)
        return
    args.only = set(args.only.split(",")) if args.only else set()
    args.profile = set(args.profile.split(",")) if args.profile else set()
    args.profiled = set()
    out = args.out or REPO / "bench" / "results" / f"harness-{args.scale}x.json"
    chart_path = args.chart or out.with_suffix(".png")
    args.profile_raw = out.with_suffix(".pyspy.txt") if args.profile else None
    out.parent.mkdir(parents=True, exist_ok=True)
    config = LoadConfig(ensure_wrk(), args.duration, args.warmup, args.connections, args.threads)
    started = time.monotonic()
    result: dict[str, Any] = {
        "harness": "bench/harness/",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([PROG, *sys.argv[1:]]),
        "gateway_source": {"dir": str(src), **git_info(src)},
        "harness_commit": git_info(REPO)["commit"],
        "machine": machine_info(config.wrk),
        "config": {
            "scale": args.scale,
            "duration": args.duration,
            "warmup": args.warmup,
            "connections": args.connections,
            "threads": args.threads,
            "wrk_timeout": WRK_TIMEOUT,
            "runs": args.runs,
            "workers": args.workers,
            "view_path": VIEW_PATH,
            "cold": "a thread INCRs gw:{u:bench}:gen every 0.5 ms during the run: every "
            "request's stamp is stale, so it recomputes the view from the stores and rewrites "
            "the cache (view_cache_miss_share counts the rewrites per request)",
            "gateway_env": "embedded engine, HS256 auth, decision log in Redis (not required), "
            "Redis stores and view cache, memory secrets, GATEWAY_LOG_LEVEL=WARNING, "
            "rate limit counted but never reached, private upstreams allowed and the /mcp "
            "in-flight cap per user above the connections (the mcp rows)",
            "gateway_env_extra": args.gateway_env,
        },
    }
    runs = []
    for run_no in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="bench-harness-") as tmp:
            run = one_run(args, config, src, run_no, Path(tmp))
        runs.append(run)
        result["tenant"] = run["tenant"]
    result["runs"] = runs
    result["summary"] = summary_rows(runs)
    result["seconds"] = round(time.monotonic() - started, 1)
    profiles = {
        row["key"]: row["profile"] for run in runs for row in run["endpoints"] if "profile" in row
    }
    result["profiles"] = profiles
    out.write_text(json.dumps(result, indent=2) + "\n")
    chart(result, chart_path)
    src_info = result["gateway_source"]
    print(
        f"\ngateway {src_info['commit']} ({src_info['subject']})"
        + (f", dirty: {', '.join(src_info['dirty_files'])}" if src_info["dirty_files"] else "")
        + f"\nscale {args.scale}x: {result['tenant']}; wrk {args.connections} connections, "
        f"{args.threads} threads, {args.duration:g} s after {args.warmup:g} s warm-up; "
        f"{args.runs} run(s); {result['machine']['cores']} cores\n"
    )
    print(table(result["summary"], args.runs))
    for run in runs:
        if "burst" in run:
            print(f"\nburst (run {run['run']}): {json.dumps(run['burst'])}")
    for row in result["summary"]:
        if "skipped" in row:
            print(f"\nnote: {row['label']} skipped: {row['skipped']}")
        if "view_cache_miss_share" in row:
            print(f"\n{row['label']}: view cache miss share per run {row['view_cache_miss_share']}")
        if "vs_bare_gateway_http" in row:
            print(
                f"\n{row['label']} / bare on gateway serve's HTTP: {row['vs_bare_gateway_http']} "
                f"(per run {row['vs_bare_gateway_http_rps_runs']})"
            )
        if "vs_bare_304" in row:
            print(
                f"\n{row['label']} / bare 304: {row['vs_bare_304']} (per run "
                f"{row['vs_bare_304_rps_runs']}); {row.get('bytes_per_request')} bytes per answer"
            )
        if "vs_direct" in row:
            print(
                f"\n{row['label']} / direct: {json.dumps(row['vs_direct'])}; req/s ratio per "
                f"run {row['vs_direct_rps_runs']}; CPU per proxied request "
                f"{row['cpu_ms_per_request_total']} ms (gateway "
                f"{row['server_cpu_ms_per_request']} + upstream "
                f"{row['upstream_cpu_ms_per_request']})"
            )
    for profile in profiles.values():
        print("\n" + profile.get("markdown", json.dumps(profile, indent=2)))
    print(f"\nwrote {out} and {chart_path} in {result['seconds']} s")


def run_soak(args: argparse.Namespace, src: Path) -> None:
    """`--soak SECONDS`: bench/harness/soak.py's run, its JSON, CSV and PNG, its summary."""
    from bench.harness.soak import chart as soak_chart

    if args.soak <= 0 or args.soak_rate <= 0 or args.soak_interval <= 0:
        raise SystemExit("--soak, --soak-rate and --soak-interval must be above 0")
    out = args.out or REPO / "bench" / "results" / f"soak-{args.scale}x.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        measured = soak(args, src, Path(tmp))
    result: dict[str, Any] = {
        "harness": "bench/harness/soak.py",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([PROG, *sys.argv[1:]]),
        "gateway_source": {"dir": str(src), **git_info(src)},
        "harness_commit": git_info(REPO)["commit"],
        "machine": machine_info(ensure_wrk()),
        "config": {
            "scale": args.scale,
            "seconds": args.soak,
            "rate": args.soak_rate,
            "connections": args.soak_connections,
            "interval": args.soak_interval,
            "workers": args.workers,
            "view_path": VIEW_PATH,
            "pacer": "bench/harness/pace.py: open loop, request i due at start + i/rate",
            "gateway_env_extra": args.gateway_env,
        },
        "tenant": measured["run"]["tenant"],
        **measured,
    }
    result["seconds_total"] = round(time.monotonic() - started, 1)
    csv_path = out.with_suffix(".csv")
    chart_path = args.chart or out.with_suffix(".png")
    out.write_text(json.dumps(result, indent=2) + "\n")
    soak_csv(result["samples"], csv_path)
    soak_chart(result, chart_path)
    src_info = result["gateway_source"]
    print(
        f"\nsoak: gateway {src_info['commit']} ({src_info['subject']})"
        + (f", dirty: {', '.join(src_info['dirty_files'])}" if src_info["dirty_files"] else "")
        + f"\nscale {args.scale}x: {result['tenant']}; {args.workers} worker(s); "
        f"{result['machine']['cores']} cores\n"
    )
    print(soak_report(result))
    print(f"\nwrote {out}, {csv_path} and {chart_path} in {result['seconds_total']} s")


if __name__ == "__main__":
    main()
