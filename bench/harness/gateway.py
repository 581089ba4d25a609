"""The gateway as the harness runs it: the settings every row shares, and proof of which
checkout it runs (--gateway-src)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# The harness scrapes /metrics with it (round trips per request; the soak's samples).
METRICS_TOKEN = "bench-harness-metrics-token"


def harness_settings(catalog: Path) -> dict[str, str]:
    """On top of bench._process.gateway_env: the synthetic catalog, the rate limit, the
    upstreams of the mcp rows, the metrics token."""
    return {
        "GATEWAY_MARKETPLACE_CATALOG": str(catalog),
        # One user drives thousands of requests a second here: counted (the cost is part of
        # what is measured) but never refused.
        "GATEWAY_RATE_LIMIT_REQUESTS": "10000000",
        # The mcp rows' upstream listens on 127.0.0.1 (changes nothing else measured here).
        "GATEWAY_ALLOW_PRIVATE_UPSTREAMS": "true",
        # wrk's connections are all the measured user's: the per-user in-flight count on
        # /mcp is kept (its cost is measured) but never reached (the default is 16).
        "GATEWAY_MCP_MAX_INFLIGHT_PER_USER": "1000",
        # Loopback may read /metrics without it; with it the scrape does not depend on how
        # the gateway tells loopback apart (and a scrape is one cheap request either way).
        "GATEWAY_METRICS_TOKEN": METRICS_TOKEN,
    }


def gateway_module_file(src: Path, env: dict[str, str]) -> str:
    """Where the gateway process imports `gateway` from (proves --gateway-src took effect)."""
    done = subprocess.run(
        [sys.executable, "-c", "import gateway; print(gateway.__file__)"],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()
