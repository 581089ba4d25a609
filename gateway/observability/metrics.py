"""The gateway's Prometheus metrics (docs/operations.md lists each with its meaning).

Labels never carry an id: routes are templates (`/v1/mcp-servers/{server_id}`), decisions
are labelled by entrypoint, so the series stay few and /metrics says how much traffic there
is, not whose. Counters are module-level: every place that counts imports them, and under
`gateway serve --workers N` prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR,
set by the CLI) sums them across the workers. Label children are cached in plain dicts: the
hot path pays a dict lookup and an increment, not `labels()`' validation and lock."""

from __future__ import annotations

import os
import re
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from gateway.errors import BackendUnavailable

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "gateway_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "gateway_http_request_duration_seconds",
    "Time from the request reaching the gateway's app to its response, by route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
MCP_REQUESTS = Counter(
    "gateway_mcp_requests_total",
    "Requests to /mcp, by MCP method (the methods the proxy knows, else `other`) and HTTP "
    "status (a JSON-RPC error in a 200 answer counts as 200).",
    ["mcp_method", "status"],
)
MCP_LATENCY = Histogram(
    "gateway_mcp_request_duration_seconds",
    "Time to answer a request to /mcp, by MCP method.",
    ["mcp_method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
IN_FLIGHT = Gauge(
    "gateway_http_requests_in_flight",
    "Requests being served now (those the admission limit counts: health and metrics not).",
    multiprocess_mode="livesum",
)
ADMISSION_REJECTED = Counter(
    "gateway_admission_rejected_total",
    "Requests refused with a 503 because GATEWAY_MAX_CONCURRENT_REQUESTS were in flight.",
)
DECISIONS = Counter(
    "gateway_decisions_total",
    "Policy decisions, by entrypoint, result (allow, deny, answered: an entrypoint that "
    "neither allows nor denies, error) and whether the decision memo answered it.",
    ["entrypoint", "result", "memoized"],
)
DECISION_LATENCY = Histogram(
    "gateway_decision_duration_seconds",
    "Policy engine evaluation time, by entrypoint (memoized answers are not observed).",
    ["entrypoint"],
    buckets=(
        0.0001,
        0.00025,
        0.0005,
        0.001,
        0.0025,
        0.005,
        0.01,
        0.025,
        0.05,
        0.1,
        0.25,
        0.5,
        1.0,
    ),
)
POLICY_REJECTED_RELOADS = Counter(
    "gateway_policy_rejected_reloads_total",
    "Policy changes refused, by who refused them: embedded (this process's engine kept its "
    "revision), bundle (the change was not packed for OPA), opa (OPA refused a bundle).",
    ["engine"],
)
VIEW_CACHE = Counter(
    "gateway_view_cache_lookups_total",
    "Merged-view cache lookups: hit, miss, bypass (unscoped local dev), error (Redis failed "
    "or an entry did not decode; the view was computed from the stores).",
    ["result"],
)
BACKEND_ERRORS = Counter(
    "gateway_backend_errors_total",
    "Requests answered 503 because a backend failed, by backend (redis, vault, "
    "policy_engine, decision_log, other).",
    ["backend"],
)
ROUND_TRIPS = Counter(
    "gateway_redis_round_trips_total",
    "Connections taken from the Redis pool: one per command, pipeline or script sent and "
    "answered (a round trip). Over the requests served: round trips per request (a single "
    "Redis; a cluster's pools are not counted).",
)
POOL_WAITS = Counter(
    "gateway_redis_pool_waits_total",
    "Redis connection requests that found every pooled connection busy and had to wait.",
)
POOL_WAIT_SECONDS = Histogram(
    "gateway_redis_pool_wait_seconds",
    "How long those waits lasted (GATEWAY_REDIS_POOL_TIMEOUT_SECONDS bounds them).",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0),
)
POOL_TIMEOUTS = Counter(
    "gateway_redis_pool_timeouts_total",
    "Waits for a Redis connection that ran out (the request was a 503).",
)
DECISION_LOG_RECORDS = Counter(
    "gateway_decision_log_records_total",
    "Decision records by outcome: written to the log, or dropped (queue full).",
    ["outcome"],
)
DECISION_LOG_FAILURES = Counter(
    "gateway_decision_log_write_failures_total",
    "Failed batch writes to the decision log (the batch is retried, or refused when required).",
)

VIEW_CACHE_LOCAL_USERS = Gauge(
    "gateway_view_cache_local_users",
    "Users whose merged view this process keeps a copy of (bounded: ADR 0058).",
    multiprocess_mode="livesum",
)
VIEW_CACHE_LOCAL_BYTES = Gauge(
    "gateway_view_cache_local_bytes",
    "Encoded size of the merged views this process keeps (bounded: ADR 0058).",
    multiprocess_mode="livesum",
)
VIEW_CACHE_HIT = VIEW_CACHE.labels("hit")
VIEW_CACHE_MISS = VIEW_CACHE.labels("miss")
VIEW_CACHE_BYPASS = VIEW_CACHE.labels("bypass")
VIEW_CACHE_ERROR = VIEW_CACHE.labels("error")
RECORDS_WRITTEN = DECISION_LOG_RECORDS.labels("written")
RECORDS_DROPPED = DECISION_LOG_RECORDS.labels("dropped")

# Label children by label values, filled on first use (bounded: routes, methods, statuses
# and entrypoints are finite).
_requests: dict[tuple[str, str, int], Any] = {}
_latencies: dict[tuple[str, str], Any] = {}
_decisions: dict[tuple[str, str, bool], Any] = {}
_decision_latencies: dict[str, Any] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    key = (method, route, status)
    counter = _requests.get(key)
    if counter is None:
        counter = _requests[key] = HTTP_REQUESTS.labels(method, route, str(status))
    counter.inc()
    timing = _latencies.get((method, route))
    if timing is None:
        timing = _latencies[(method, route)] = HTTP_LATENCY.labels(method, route)
    timing.observe(seconds)


def observe_mcp(mcp_method: str, status: int, seconds: float) -> None:
    """`mcp_method` must come from a fixed set (the caller bounds it): label values are
    series."""
    MCP_REQUESTS.labels(mcp_method, str(status)).inc()
    MCP_LATENCY.labels(mcp_method).observe(seconds)


def observe_decision(entrypoint: str, result: str, memoized: bool, seconds: float | None) -> None:
    """`seconds` None: the engine was not asked (memoized) or failed."""
    key = (entrypoint, result, memoized)
    counter = _decisions.get(key)
    if counter is None:
        counter = _decisions[key] = DECISIONS.labels(entrypoint, result, str(memoized).lower())
    counter.inc()
    if seconds is not None:
        timing = _decision_latencies.get(entrypoint)
        if timing is None:
            timing = _decision_latencies[entrypoint] = DECISION_LATENCY.labels(entrypoint)
        timing.observe(seconds)


# BackendUnavailable's detail names the backend first (gateway/errors.py): "redis
# unavailable: ...", "vault unavailable: ...", "policy engine ...", "decision log ...".
_BACKENDS = (
    ("redis", "redis"),
    ("vault", "vault"),
    ("policy", "policy_engine"),
    ("decision log", "decision_log"),
)


def count_rejected_reload(engine: str) -> None:
    POLICY_REJECTED_RELOADS.labels(engine=engine).inc()


def backend_of(exc: BackendUnavailable) -> str:
    detail = exc.detail.lower()
    return next((name for prefix, name in _BACKENDS if detail.startswith(prefix)), "other")


async def count_backend_error(exc: Exception, scope: Any) -> None:
    """Litestar's `after_exception` hook: sees every exception a handler turns into a
    response, wherever it was raised (a route, the authentication middleware)."""
    if isinstance(exc, BackendUnavailable):
        BACKEND_ERRORS.labels(backend_of(exc)).inc()


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def exposition() -> tuple[bytes, str]:
    """The text a scrape gets: this process's registry, or, with several workers, the sum
    of every worker's files in PROMETHEUS_MULTIPROC_DIR (whichever worker answers)."""
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def worker_exiting() -> None:
    """A worker that stops cleanly takes its live gauges (in flight) out of the sum."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


DENIALS_BY_RULE = Counter(
    "gateway_policy_denials_total",
    "Denials written to the decision log, by the reason code (`rule`) the policy gave; a page "
    "decision counts each item it denied. Codes are the policy's own: the first 64 distinct "
    "ones get a series each, later ones count as `other`, so a policy cannot grow the series "
    "without bound.",
    ["rule"],
)
_RULE_LABELS: dict[str, Any] = {}
_MAX_RULES = 64
_RULE_CODE = re.compile(r"[a-z0-9_.:-]{1,64}")


def observe_denial(rule: str, count: int = 1) -> None:
    counter = _RULE_LABELS.get(rule)
    if counter is None:
        known = len(_RULE_LABELS) < _MAX_RULES and _RULE_CODE.fullmatch(rule)
        label = rule if known else "other"
        counter = DENIALS_BY_RULE.labels(label)
        if known:
            _RULE_LABELS[rule] = counter
    counter.inc(count)
