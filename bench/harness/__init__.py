"""The wrk harness: `python -m bench.harness` (./scripts/bench); what it does is __main__.py's
docstring (`--help`).

- __main__.py: the command line, the JSON, the printed report
- run.py: one run (Redis, the gateway, the tenant, each selected row, the burst)
- scenarios/: the rows, one module per scenario, each saying what it measures
- endpoint.py: what a row is (Endpoint, the Watch a scenario runs around it), its probe
- tenant.py: the seeded tenant
- gateway.py: the gateway settings every row shares (the rest in bench/_process.py)
- load.py: wrk, its Lua script, its output
- cpu.py: CPU seconds of the gateway (its workers summed), the upstream, Redis and wrk, for
  CPU per request; RSS of a process tree
- metrics.py: the gateway's /metrics around a row (Redis round trips per request)
- soak.py, pace.py: `--soak`: a steady paced load and the gateway's RSS over time
- profile.py: py-spy
- machine.py: the machine, its packages and the measured commit, for the JSON
- report.py: the summary over runs, the Markdown table, the PNG chart
"""

from __future__ import annotations

import sys
import time


def log(message: str) -> None:
    print(f"[harness {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
