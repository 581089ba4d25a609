"""py-spy on the gateway during one endpoint's run, summarised."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.harness.load import LoadConfig, wrk

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::\d+)?\)$")


def _short(path: str) -> str:
    for marker in ("site-packages/", "lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def frame_name(frame: str) -> str:
    """`func (dir/file.py:123)` -> `func (file.py)`: no line, so a function counts once."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    return f"{m.group('func')} ({_short(m.group('file'))})"


def summarize_profile(raw: str, top: int = 25) -> dict[str, Any]:
    """py-spy's raw (collapsed) stacks, `frame;frame;...;leaf count` per line: each function's
    inclusive share (samples with it anywhere on the stack) and self share (as the leaf)."""
    total = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        names = [frame_name(f) for f in stack.split(";") if f]
        if not names:
            continue
        total += n
        for name in set(names):
            inclusive[name] += n
        own[names[-1]] += n

    def rows(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"function": name, "samples": n, "share": round(n / total, 4)}
            for name, n in counter.most_common(top)
        ]

    return {"samples": total, "inclusive": rows(inclusive), "self": rows(own)}


def profile_markdown(summary: dict[str, Any], context: str) -> str:
    lines = [f"py-spy: {summary['samples']} samples; {context}", ""]
    for kind in ("inclusive", "self"):
        lines += [
            f"Top {len(summary[kind])} by {kind} share:",
            "",
            f"| # | {kind} % | function |",
            "|---:|---:|---|",
        ]
        lines += [
            f"| {i} | {row['share'] * 100:.1f} | `{row['function']}` |"
            for i, row in enumerate(summary[kind], 1)
        ]
        lines.append("")
    return "\n".join(lines)


def py_spy_binary() -> str:
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if not found:
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
    return found


def profiled_run(
    config: LoadConfig,
    url: str,
    script: Path,
    pid: int,
    output: Path,
    label: str,
    subprocesses: bool = False,
) -> dict[str, Any]:
    """A wrk run of one endpoint with py-spy recording the gateway for its duration (and its
    worker processes with `subprocesses`: under --workers N the parent only supervises)."""
    seconds = max(1, round(config.duration))
    attempts = (["--nonblocking"], [])  # nonblocking first: it does not pause the gateway
    notes = []
    for extra in attempts:
        argv = [py_spy_binary(), "record", "--pid", str(pid), "--duration", str(seconds)]
        argv += ["--rate", "200", "--format", "raw", "--output", str(output), *extra]
        argv += ["--subprocesses"] if subprocesses else []
        spy = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(0.5)  # attached before the load starts
        if spy.poll() is not None and spy.returncode != 0:
            notes.append(f"py-spy {' '.join(extra) or '(blocking)'} failed: {spy.stdout.read()}")
            continue
        result, _ = wrk(config, url, script, config.duration)
        spy_out, _ = spy.communicate(timeout=60)
        if spy.returncode != 0 or not output.exists():
            notes.append(f"py-spy {' '.join(extra) or '(blocking)'} failed: {spy_out}")
            continue
        summary = summarize_profile(output.read_text())
        mode = "nonblocking" if extra else "blocking (pauses the gateway per sample)"
        context = (
            f"{mode}, 200 Hz, {seconds} s of {label} at {result.rps:.0f} req/s under the profiler"
        )
        return {
            "mode": mode,
            "rps_under_profiler": result.rps,
            "p99_ms_under_profiler": result.p99_ms,
            "summary": summary,
            "markdown": profile_markdown(summary, context),
            "notes": notes,
        }
    return {"error": "py-spy could not record the gateway", "notes": notes}
