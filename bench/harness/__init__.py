"""The wrk harness: `python -m bench.harness` (./scripts/bench). See __main__.py."""

from __future__ import annotations

import sys
import time


def log(message: str) -> None:
    print(f"[harness {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
