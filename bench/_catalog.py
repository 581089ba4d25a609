"""A synthetic marketplace catalog of n listings, for the benchmarks that seed servers from
it (bench/marketplace.py, the harness's tenant)."""

from __future__ import annotations

import json
from pathlib import Path


def listing_id(i: int) -> str:
    return f"bench-{i:04d}"


def write_catalog(directory: Path, n: int) -> Path:
    from gateway.marketplace.catalog import CATEGORIES

    listings = [
        {
            "id": listing_id(i),
            "name": f"Bench server {i}",
            "description": f"Synthetic listing {i} for the marketplace benchmark: "
            "fetches, searches and summarises things for the caller.",
            "publisher": "Bench Inc",
            "homepage": f"https://bench.example.com/servers/{i}",
            "categories": [CATEGORIES[i % len(CATEGORIES)]],
            "transport": "stdio",
            "command": "npx",
            "args": ["-y", f"@bench/server-{i}"],
            "env": ["BENCH_TOKEN"],
        }
        for i in range(n)
    ]
    path = directory / f"catalog-{n}.json"
    path.write_text(json.dumps({"version": 1, "listings": listings}))
    return path
