"""The soak (`--soak SECONDS`): does the gateway's memory stay flat under a steady load?

One run as the rows have (a throwaway Redis, the gateway with `--workers`, the tenant seeded
through the API), then `view_warm`'s request (`GET /v1/mcp-servers?limit=500` as the
measured user, no If-None-Match) at `--soak-rate` requests a second for SECONDS, paced by
bench/harness/pace.py (an open-loop asyncio client in its own process: wrk cannot hold a
rate). Every `--soak-interval` seconds (5) the harness samples:

- the gateway's RSS: VmRSS of /proc/<pid>/status summed over the gateway process and its
  live descendants (the workers under --workers N);
- the requests it has answered (`gateway_http_requests_total` over every route, from its
  /metrics: the scrapes themselves add one per sample);
- any `gateway_view_cache_*` series but the lookups counter (the in-process view copy's size,
  if the gateway exports it; none is charted when it does not).

Writes a CSV of the samples, a PNG of RSS over time (requests a second on a second axis) and
a JSON (the pacer's latency per minute, CPU per request, the samples); prints the first,
last and largest RSS, and the growth from the first sample at or after SETTLE_S (60 s, the
start of the second minute: imports, pools and caches fill during the first) to the end,
with the slope of a least-squares line over the same span.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import REPO
from bench._auth import token_for
from bench.harness import log, metrics
from bench.harness.cpu import children_cpu_seconds, tree_cpu_seconds, tree_rss_kib
from bench.harness.gateway import METRICS_TOKEN
from bench.harness.run import seeded_gateway
from bench.harness.tenant import USER, VIEW_PATH

SETTLE_S = 60.0


def _ended(pacer: subprocess.Popen[bytes], until: float) -> bool:
    """Wait for the pacer until the monotonic time `until`: whether it has exited."""
    try:
        pacer.wait(timeout=max(0.0, until - time.monotonic()))
    except subprocess.TimeoutExpired:
        return False
    return True


def sample(pid: int, base: str, elapsed: float) -> dict[str, Any]:
    rss, processes = tree_rss_kib(pid)
    scraped = metrics.scrape(base, METRICS_TOKEN)
    served = metrics.total(scraped, metrics.HTTP_REQUESTS)
    return {
        "elapsed_s": round(elapsed, 1),
        "rss_kib": rss,
        "processes": processes,
        "requests_served": None if served is None else round(served),
        **metrics.view_cache_sizes(scraped),
    }


def growth(samples: list[dict[str, Any]], settle: float = SETTLE_S) -> dict[str, Any]:
    """RSS first/last/max, and from the first sample at or after `settle` s to the last: the
    change and a least-squares slope (KiB per minute). None where the run is too short."""
    rss = [s["rss_kib"] for s in samples]
    result: dict[str, Any] = {
        "first_kib": rss[0],
        "last_kib": rss[-1],
        "max_kib": max(rss),
        "first_to_last_kib": rss[-1] - rss[0],
        "settle_s": settle,
        "settled_kib": None,
        "settled_to_last_kib": None,
        "settled_to_last_share": None,
        "settled_slope_kib_per_min": None,
    }
    after = [s for s in samples if s["elapsed_s"] >= settle]
    if len(after) >= 2:
        start = after[0]["rss_kib"]
        result["settled_kib"] = start
        result["settled_to_last_kib"] = rss[-1] - start
        result["settled_to_last_share"] = round((rss[-1] - start) / start, 4) if start else None
        slope, _ = statistics.linear_regression(
            [s["elapsed_s"] / 60 for s in after], [s["rss_kib"] for s in after]
        )
        result["settled_slope_kib_per_min"] = round(slope, 1)
    return result


def write_csv(samples: list[dict[str, Any]], path: Path) -> None:
    columns: list[str] = []
    for row in samples:
        columns += [name for name in row if name not in columns]
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows(samples)


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["samples"]
    times = [s["elapsed_s"] for s in samples]
    fig, ax = plt.subplots(figsize=(10, 5), dpi=110)
    ax.plot(times, [s["rss_kib"] / 1024 for s in samples], color="#4477aa", marker=".",
            label="gateway RSS (all processes)")  # fmt: skip
    if times and times[-1] >= SETTLE_S:
        ax.axvline(SETTLE_S, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("seconds since the load started")
    ax.set_ylabel("RSS MiB")
    ax.set_ylim(0, max(s["rss_kib"] for s in samples) / 1024 * 1.15)
    served = [(s["elapsed_s"], s["requests_served"]) for s in samples]
    if all(count is not None for _, count in served) and len(served) > 1:
        # Not the short tail after the last full interval (part of it after the load ended).
        least = result["config"]["interval"] / 2
        rates = [(t1, (c1 - c0) / (t1 - t0)) for (t0, c0), (t1, c1) in itertools.pairwise(served)
                 if t1 - t0 >= least]  # fmt: skip
        twin = ax.twinx()
        twin.plot([t for t, _ in rates], [r for _, r in rates], color="#cc6677", linewidth=1,
                  label="requests/s answered")  # fmt: skip
        twin.set_ylabel("requests/s", color="#cc6677")
        twin.set_ylim(0, max([r for _, r in rates] + [1]) * 1.3)
    cfg, src = result["config"], result["gateway_source"]
    commit = (src["commit"] or "?")[:10] + (" +dirty" if src["dirty_files"] else "")
    ax.set_title(
        f"soak: gateway {commit}, {cfg['workers']} worker(s), {cfg['rate']:g} req/s asked "
        f"({result['load']['rate_achieved']:g} answered) for {cfg['seconds']:g} s, "
        f"{result['tenant']['view_items']} servers in view",
        fontsize=9,
    )
    rss = result["rss"]
    if rss["settled_to_last_kib"] is not None:
        ax.annotate(
            f"from {rss['settle_s']:g} s to the end: {rss['settled_to_last_kib']:+d} KiB, "
            f"slope {rss['settled_slope_kib_per_min']:+.1f} KiB/min",
            (0.01, 0.04),
            xycoords="axes fraction",
            fontsize=8,
        )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def soak(args: argparse.Namespace, src: Path, tmp: Path) -> dict[str, Any]:
    """The run: seed, pace the load, sample every `--soak-interval` s until the pacer ends."""
    run: dict[str, Any] = {"started": dt.datetime.now(dt.UTC).isoformat()}
    with seeded_gateway(args, src, 1, tmp, run) as (gateway, _redis_url, _tenant):
        pid = gateway.proc.pid
        argv = [sys.executable, "-m", "bench.harness.pace", "--url", gateway.base + VIEW_PATH,
                "--rate", str(args.soak_rate), "--seconds", str(args.soak),
                "--connections", str(args.soak_connections)]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO), "BENCH_TOKEN": token_for(USER)}
        log(f"soak: {args.soak_rate:g} req/s for {args.soak:g} s, sampling every "
            f"{args.soak_interval:g} s")  # fmt: skip
        samples = [sample(pid, gateway.base, 0.0)]
        cpu_before, pacer_cpu_before = tree_cpu_seconds(pid), children_cpu_seconds()
        started = time.monotonic()
        # Its output to files, not pipes: a pipe it filled would stall it mid-soak.
        with (tmp / "pace.out").open("w+") as out, (tmp / "pace.err").open("w+") as err:
            pacer = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=err)
            try:
                while not _ended(pacer, started + args.soak_interval * len(samples)):
                    samples.append(sample(pid, gateway.base, time.monotonic() - started))
                    at, rss = samples[-1]["elapsed_s"], samples[-1]["rss_kib"]
                    if len(samples) % 12 == 1:  # a line a minute at the default interval
                        log(f"soak: {at:.0f} s, RSS {rss / 1024:.1f} MiB")
                    if time.monotonic() > started + args.soak + 120:
                        raise SystemExit("the pacer did not end 2 minutes after its time")
            finally:
                if pacer.poll() is None:
                    pacer.kill()
                    pacer.wait()
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        samples.append(sample(pid, gateway.base, time.monotonic() - started))
        gateway_cpu = tree_cpu_seconds(pid) - cpu_before
        pacer_cpu = children_cpu_seconds() - pacer_cpu_before
    line = next((x for x in stdout.splitlines() if x.startswith("PACE ")), None)
    if pacer.returncode != 0 or line is None:
        raise SystemExit(f"the pacer failed ({pacer.returncode}):\n{stderr}\n{stdout}")
    load = json.loads(line.removeprefix("PACE "))
    answered = max(1, load["answered"])
    return {
        "run": run,
        "load": load,
        "gateway_cpu_ms_per_request": round(1000 * gateway_cpu / answered, 3),
        "gateway_cpu_share": round(gateway_cpu / max(1e-9, load["seconds"]), 3),
        "pacer_cpu_share": round(pacer_cpu / max(1e-9, load["seconds"]), 3),
        "rss": growth(samples),
        "view_cache_series": sorted(
            {name for s in samples for name in s if name.startswith(metrics.VIEW_CACHE_PREFIX)}
        ),
        "samples": samples,
    }


def report(result: dict[str, Any]) -> str:
    load, rss = result["load"], result["rss"]

    def mib(kib: float | None) -> str:
        return "-" if kib is None else f"{kib / 1024:.1f} MiB"

    lines = [
        f"load: {load['rate_asked']:g} req/s asked, {load['rate_achieved']:g} answered over "
        f"{load['seconds']:g} s ({load['answered']} answers {load['statuses']}, errors "
        f"{load['errors']}, late {load['late']}); latency p50 {load['p50_ms']} ms, p99 "
        f"{load['p99_ms']} ms, max {load['max_ms']} ms; {load['connections']} connections",
        f"CPU: gateway {result['gateway_cpu_ms_per_request']} ms/request "
        f"({result['gateway_cpu_share']} of a core), pacer {result['pacer_cpu_share']} of a core",
        f"RSS (gateway, {result['samples'][-1]['processes']} process(es)): first "
        f"{mib(rss['first_kib'])}, last {mib(rss['last_kib'])}, max {mib(rss['max_kib'])}; "
        f"first to last {rss['first_to_last_kib']:+d} KiB",
    ]
    if rss["settled_kib"] is None:
        lines.append(
            f"RSS from {rss['settle_s']:g} s (start of the 2nd minute) to the end: n/a, the "
            "soak is shorter than that"
        )
    else:
        share = rss["settled_to_last_share"]
        lines.append(
            f"RSS from {rss['settle_s']:g} s (start of the 2nd minute) to the end: "
            f"{mib(rss['settled_kib'])} -> {mib(rss['last_kib'])}, "
            f"{rss['settled_to_last_kib']:+d} KiB"
            + (f" ({share * 100:+.2f} %)" if share is not None else "")
            + f"; least-squares slope {rss['settled_slope_kib_per_min']:+.1f} KiB/min"
        )
    series = result["view_cache_series"]
    if series:
        last = result["samples"][-1]
        lines.append("view cache: " + ", ".join(f"{name} {last.get(name)}" for name in series))
    else:
        lines.append("view cache: no gateway_view_cache_* size series in /metrics (not sampled)")
    return "\n".join(lines)
