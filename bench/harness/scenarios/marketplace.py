"""The marketplace's first page: `GET /v1/marketplace/servers?limit=100` as the measured
user, no body, over the harness's synthetic catalog (bench/_catalog.py, 200·N listings):
each listing with installed / allowed / reason for this user (in 3 enterprises, none
restricting installs), decided as one `marketplace.listings` batch per page. Auth, stores,
decision log and the rate limit (counted, never reached) as on every gateway row
(scenarios/__init__.py). The in-process breakdown by catalog size is bench/marketplace.py.
"""

from __future__ import annotations

from bench.harness.endpoint import Endpoint

PAGE = Endpoint(
    "marketplace",
    "GET /v1/marketplace/servers",
    "GET",
    "/v1/marketplace/servers?limit=100",
    note="first page of 100 listings, each with installed/allowed/reason",
)
