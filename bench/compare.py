"""Before/after chart from harness JSONs: one panel per scale, requests/s per endpoint for each
result side by side, the bare app as a line. What `docs/performance.md` shows.

    .venv/bin/python -m bench.compare --out docs/img/harness-before-after.png \\
        1x:bench/results/baseline-1x.json:bench/results/after-1x.json \\
        10x:bench/results/baseline-10x.json:bench/results/after-10x.json
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import msgspec

from bench.harness.report import annotate_bar, wrap_label

_COLORS = ("#bbbbbb", "#4477aa")


def _load(path: str) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.json.decode(Path(path).read_bytes())
    return result


def _label(result: dict[str, Any]) -> str:
    return (result["gateway_source"]["commit"] or "?")[:7]


def _panel(ax: Any, scale: str, before: dict[str, Any], after: dict[str, Any]) -> None:
    keys = [r["key"] for r in after["summary"] if "rps" in r and r["key"] != "bare"]
    labels = {r["key"]: r["label"] for r in after["summary"]}
    width = 0.4
    for i, result in enumerate((before, after)):
        by_key = {r["key"]: r for r in result["summary"] if "rps" in r}
        xs = [k + (i - 0.5) * width for k in range(len(keys))]
        values = [by_key[k]["rps"] if k in by_key else 0 for k in keys]
        bars = ax.bar(xs, values, width, color=_COLORS[i], label=_label(result))
        for bar, key in zip(bars, keys, strict=True):
            if key in by_key:
                text = f"{by_key[key]['rps']:.0f}\np99 {by_key[key]['p99_ms']:.0f}"
                annotate_bar(ax, bar, text, rise=3, fontsize=6.5)
        bare = by_key.get("bare")
        if bare:
            ax.axhline(bare["rps"], color=_COLORS[i], linestyle="--", linewidth=1)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([wrap_label(labels[k]) for k in keys], fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("requests/s (log); dashed: bare app")
    items = after["tenant"]["view_items"]
    ax.set_title(f"{scale}: {items} servers in the view", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("panels", nargs="+", help="SCALE:BEFORE.json:AFTER.json")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(args.panels), 1, figsize=(10, 4.2 * len(args.panels)), dpi=100, squeeze=False
    )
    for ax, panel in zip(axes[:, 0], args.panels, strict=True):
        scale, before, after = panel.split(":")
        _panel(ax, scale, _load(before), _load(after))
    fig.suptitle("harness: wrk 32 connections, 10 s per endpoint, 2 cores, one worker", fontsize=10)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    plt.close(fig)
    print(args.out)


if __name__ == "__main__":
    main()
