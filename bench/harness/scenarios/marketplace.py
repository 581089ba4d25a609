"""The marketplace's first page."""

from __future__ import annotations

from bench.harness.endpoint import Endpoint

PAGE = Endpoint(
    "marketplace",
    "GET /v1/marketplace/servers",
    "GET",
    "/v1/marketplace/servers?limit=100",
    note="first page of 100 listings, each with installed/allowed/reason",
)
