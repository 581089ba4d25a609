"""The gateway's own counters, read from its `GET /metrics` (Prometheus text) around a row:
Redis round trips per request (`gateway_redis_round_trips_total`, every connection taken
from the pool: one command, pipeline or script sent and answered; with `--workers N` the
gateway's multiprocess mode sums the workers), and for the soak the requests served and the
view cache's in-process copy if the gateway exports its size."""

from __future__ import annotations

ROUND_TRIPS = "gateway_redis_round_trips_total"
HTTP_REQUESTS = "gateway_http_requests_total"
# The soak samples every series of this prefix except the lookups counter (a gateway that
# exports its in-process copy's entries or bytes under it is charted; absent, skipped).
VIEW_CACHE_PREFIX = "gateway_view_cache_"
VIEW_CACHE_LOOKUPS = "gateway_view_cache_lookups_total"

Sample = tuple[str, dict[str, str], float]


def parse(text: str) -> list[Sample]:
    from prometheus_client.parser import text_string_to_metric_families

    return [
        (sample.name, dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def scrape(base: str, token: str) -> list[Sample] | None:
    """The samples of `base`/metrics, or None where there is none to read (a checkout
    measured with --gateway-src may predate /metrics or refuse the token)."""
    import httpx

    try:
        response = httpx.get(
            base + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return parse(response.text)


def total(samples: list[Sample] | None, name: str, **labels: str) -> float | None:
    """The sum of `name`'s samples whose labels include `labels`; None if it has none."""
    if samples is None:
        return None
    values = [
        value
        for sample, have, value in samples
        if sample == name and all(have.get(k) == v for k, v in labels.items())
    ]
    return sum(values) if values else None


def view_cache_sizes(samples: list[Sample] | None) -> dict[str, float]:
    """Every `gateway_view_cache_*` series but the lookups counter, `name{labels}` -> value."""
    sizes: dict[str, float] = {}
    for name, labels, value in samples or []:
        if name.startswith(VIEW_CACHE_PREFIX) and name != VIEW_CACHE_LOOKUPS:
            if name.endswith("_created"):
                continue
            suffix = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            sizes[f"{name}{{{suffix}}}" if suffix else name] = value
    return sizes


def per_request(before: float | None, after: float | None, requests: int) -> float | None:
    if before is None or after is None or requests <= 0:
        return None
    return round((after - before) / requests, 3)
