"""The summary over runs, the Markdown table and the PNG chart."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any


def _ratio(part: float, whole: float) -> float | None:
    """None where `whole` is 0: a row in which no request completed (the mcp row at a short
    --duration) has no spread and no ratio, and must not stop the report of the others."""
    return round(part / whole, 3) if whole else None


# proxied row -> its direct row: the same MCP request through /mcp and to the upstream.
MCP_PAIRS = {"mcp": "mcp_direct", "mcp_list": "mcp_list_direct"}
# gateway row -> the bare row answering the same way (a 304 against a bare 304).
BARE_PAIRS = {"view_304": "bare_304", "view_warm": "bare_gateway_http"}


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.0f} %"


def summary_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per endpoint: the median over runs, and the req/s of each run (the spread)."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        for row in run["endpoints"]:
            by_key.setdefault(row["key"], []).append(row)
    bare_rps = None
    if "bare" in by_key and "rps" in by_key["bare"][0]:
        bare_rps = statistics.median(r["rps"] for r in by_key["bare"])
    summary = []
    for key, rows in by_key.items():
        first = rows[0]
        entry: dict[str, Any] = {"key": key, "label": first["label"], "note": first["note"]}
        if "skipped" in first:
            entry["skipped"] = first["skipped"]
            summary.append(entry)
            continue
        rps = [r["rps"] for r in rows]
        entry |= {
            "rps": round(statistics.median(rps), 1),
            "rps_runs": rps,
            "rps_spread": _ratio(max(rps) - min(rps), statistics.median(rps)),
            "p50_ms": round(statistics.median(r["p50_ms"] for r in rows), 2),
            "p99_ms": round(statistics.median(r["p99_ms"] for r in rows), 2),
            "non_2xx": sum(r["non_2xx"] for r in rows),
            "socket_errors": sum(sum(r["socket_errors"].values()) for r in rows),
            "server_cpu_ms_per_request": round(
                statistics.median(r["server_cpu_ms_per_request"] for r in rows), 3
            ),
            "vs_bare": round(statistics.median(rps) / bare_rps, 4) if bare_rps else None,
        }
        if "bytes_per_request" in first:
            entry["bytes_per_request"] = round(
                statistics.median(r["bytes_per_request"] for r in rows)
            )
        trips = [r.get("redis_round_trips_per_request") for r in rows]
        if any(t is not None for t in trips):
            entry["redis_round_trips_per_request"] = round(
                statistics.median(t for t in trips if t is not None), 3
            )
            entry["redis_round_trips_per_request_runs"] = trips
        if "view_cache_miss_share" in first:
            entry["view_cache_miss_share"] = [r["view_cache_miss_share"] for r in rows]
        if "upstream_cpu_ms_per_request" in first:
            entry["upstream_cpu_ms_per_request"] = round(
                statistics.median(r["upstream_cpu_ms_per_request"] for r in rows), 3
            )
        summary.append(entry)
    keyed = {entry["key"]: entry for entry in summary}
    for key, bare_key in BARE_PAIRS.items():
        row, floor = keyed.get(key, {}), keyed.get(bare_key, {})
        if "rps" in row and "rps" in floor:
            row[f"vs_{bare_key}"] = _ratio(row["rps"], floor["rps"])
            row[f"vs_{bare_key}_rps_runs"] = [
                _ratio(g, b) for g, b in zip(row["rps_runs"], floor["rps_runs"], strict=True)
            ]
    for proxied_key, direct_key in MCP_PAIRS.items():
        direct, proxied = keyed.get(direct_key, {}), keyed.get(proxied_key, {})
        if "rps" not in direct or "rps" not in proxied:
            continue
        # proxied / direct, same request, same upstream; per run too (both rows of one run
        # shared the machine's load, so the ratio of one run is the figure to read).
        proxied["vs_direct"] = {
            name: _ratio(proxied[name], direct[name]) for name in ("rps", "p50_ms", "p99_ms")
        }
        proxied["vs_direct_rps_runs"] = [
            _ratio(p, d) for p, d in zip(proxied["rps_runs"], direct["rps_runs"], strict=True)
        ]
        # CPU per request: the gateway's and the upstream's behind it, against the
        # upstream's alone when called directly.
        cpu = proxied["server_cpu_ms_per_request"] + proxied.get("upstream_cpu_ms_per_request", 0)
        proxied["cpu_ms_per_request_total"] = round(cpu, 3)
        proxied["vs_direct"]["cpu_ms_per_request"] = _ratio(
            cpu, direct["server_cpu_ms_per_request"]
        )
    return summary


def _trips(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def table(summary: list[dict[str, Any]], runs: int) -> str:
    spread = " | spread" if runs > 1 else ""
    """One line per row. `server CPU ms/req`: the CPU of the process answering the row (the
    gateway summed over its workers, or the bare app) per request; `Redis RT/req`: the
    gateway's Redis round trips per request (its /metrics; - where not a gateway row)."""
    lines = [
        f"| endpoint | req/s{spread} | p50 ms | p99 ms | non-2xx | sock err | vs bare "
        "| server CPU ms/req | Redis RT/req |",
        "|---|---:|" + ("---:|" if runs > 1 else "") + "---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary:
        if "skipped" in row:
            cells = "skipped | " + " | ".join([""] * (7 + (runs > 1)))
            lines.append(f"| {row['label']} | {cells} |".replace("|  |", "| |"))
            continue
        ratio = f"{row['vs_bare']:.3f}" if row["vs_bare"] is not None else "-"
        spread_cell = (
            f" | {'/'.join(f'{r:.0f}' for r in row['rps_runs'])} ({_percent(row['rps_spread'])})"
            if runs > 1
            else ""
        )
        lines.append(
            f"| {row['label']} | {row['rps']:.0f}{spread_cell} | {row['p50_ms']:.1f} "
            f"| {row['p99_ms']:.1f} | {row['non_2xx']} | {row['socket_errors']} | {ratio} "
            f"| {row['server_cpu_ms_per_request']:.3f} "
            f"| {_trips(row.get('redis_round_trips_per_request'))} |"
        )
    return "\n".join(lines)


def wrap_label(label: str) -> str:
    """A row's label on up to three lines under its bar (method, path, qualifier)."""
    return label.replace(" /v1/", "\n/v1/").replace(" (", "\n(")


def annotate_bar(
    ax: Any, bar: Any, text: str, *, rise: float, fontsize: float, va: str = "baseline"
) -> None:
    """`text` centred above `bar`, `rise` points up."""
    ax.annotate(
        text,
        (bar.get_x() + bar.get_width() / 2, bar.get_height()),
        xytext=(0, rise),
        textcoords="offset points",
        ha="center",
        va=va,
        fontsize=fontsize,
    )


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["summary"] if "rps" in r and r["key"] != "bare"]
    bare = next((r for r in result["summary"] if r["key"] == "bare" and "rps" in r), None)
    fig, ax = plt.subplots(figsize=(10, 5.5), dpi=110)
    labels = [wrap_label(r["label"]) for r in rows]
    values = [r["rps"] for r in rows]
    bars = ax.bar(labels, values, color="#4477aa")
    if any(len(r["rps_runs"]) > 1 for r in rows):
        low = [r["rps"] - min(r["rps_runs"]) for r in rows]
        high = [max(r["rps_runs"]) - r["rps"] for r in rows]
        ax.errorbar(labels, values, yerr=[low, high], fmt="none", ecolor="black", capsize=4)
    for bar, row in zip(bars, rows, strict=True):
        text = f"{row['rps']:.0f} req/s\np99 {row['p99_ms']:.0f} ms"
        annotate_bar(ax, bar, text, rise=4, fontsize=8, va="bottom")
    if bare:
        ax.axhline(bare["rps"], color="#cc6677", linestyle="--", linewidth=1.5)
        ax.annotate(
            f"bare Litestar app: {bare['rps']:.0f} req/s (p99 {bare['p99_ms']:.1f} ms)",
            (0.01, bare["rps"]),
            xycoords=("axes fraction", "data"),
            xytext=(0, 4),
            textcoords="offset points",
            color="#cc6677",
            fontsize=9,
        )
    ax.set_yscale("log")
    ax.set_ylabel("requests/s (log scale)")
    top = max([*values, bare["rps"] if bare else 0])
    ax.set_ylim(max(1, min(values) / 3) if values else 1, top * 3)
    src = result["gateway_source"]
    commit = (src["commit"] or "?")[:10] + (" +dirty" if src["dirty_files"] else "")
    cfg = result["config"]
    ax.set_title(
        f"gateway {commit} at scale {cfg['scale']}x ({result['tenant']['view_items']} servers in "
        f"view): wrk {cfg['connections']} connections, {cfg['duration']:g} s, "
        f"{result['machine']['cores']} cores",
        fontsize=10,
    )
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
