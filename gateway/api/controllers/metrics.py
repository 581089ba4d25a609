"""`GET /metrics`: Prometheus text format, what gateway/observability/metrics.py counts.

Who may read it: the metrics name no tenant, user or object (routes are templates,
decisions are labelled by entrypoint), but they do show how much traffic there is and how
often it is denied. So, without GATEWAY_METRICS_TOKEN only loopback clients may (a
Prometheus or agent beside the gateway); with it, anyone presenting it as a bearer token.
This is an operator's credential checked at the edge like the bearer token of a user, not
an authorization decision about a subject: there is no subject, and the policy never sees
it (docs/adr/0043-operability.md)."""

from __future__ import annotations

import hmac
import ipaddress

from litestar import Request, Response, get
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import HTTPRouteHandler

from gateway.api.openapi.answers import public
from gateway.observability.metrics import exposition


def metrics_route(token: str | None) -> HTTPRouteHandler:
    expected = token.encode() if token else None

    @get(
        "/metrics",
        exclude_from_auth=True,  # no user token: its own rule, above
        include_in_schema=False,
        **public(),
    )
    async def metrics(request: Request) -> Response[bytes]:  # type: ignore[type-arg]
        if expected is None:
            if not _loopback(request.client.host if request.client else None):
                raise PermissionDeniedException(
                    "/metrics is served to loopback clients only; set GATEWAY_METRICS_TOKEN "
                    "to scrape it from elsewhere"
                )
        else:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected):
                raise NotAuthorizedException(
                    "/metrics needs the GATEWAY_METRICS_TOKEN as a bearer token",
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    return metrics


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
