"""`/v1/policy`: the policy bundle the gateway serves its OPA sidecars, and which policy runs.

`GET /v1/policy/bundle` is OPA's bundle service (docs/policies.md): OPA polls it with the
`GATEWAY_BUNDLE_TOKEN` as a bearer token and `If-None-Match`, and gets a 304 until the policy
directory changes and passes its checks. The token is an operator's credential checked at
the edge like `/metrics`'s, not an authorization decision about a subject: there is no
subject (docs/adr/0043-operability.md). `GET /v1/policy/status` is a subject's read, decided
by the policy (`policy.read`)."""

from __future__ import annotations

import hmac

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.handlers import HTTPRouteHandler

from gateway.api.deps import runtime_of
from gateway.api.openapi.answers import answers, public
from gateway.domain.subjects import Subject
from gateway.services.policy_status import PolicyReport, PolicyStatusService

BUNDLE_PATH = "/v1/policy/bundle"
GZIP = "application/gzip"


def bundle_route(token: str) -> HTTPRouteHandler:
    expected = token.encode()

    @get(
        BUNDLE_PATH,
        exclude_from_auth=True,  # OPA has no user token: its own credential, above
        include_in_schema=False,
        **public(),
    )
    async def policy_bundle(request: Request) -> Response[bytes]:  # type: ignore[type-arg]
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected):
            raise NotAuthorizedException(
                f"{BUNDLE_PATH} needs the GATEWAY_BUNDLE_TOKEN as a bearer token",
                headers={"WWW-Authenticate": 'Bearer realm="policy-bundle"'},
            )
        bundles = runtime_of(request.app.state).bundles
        if bundles is None:  # the token without a runtime serving bundles: never built so
            raise NotFoundException("this gateway serves no policy bundle")
        bundle = bundles.current
        headers = {"ETag": bundle.etag, "Cache-Control": "no-cache"}
        if bundle.etag in request.headers.get("if-none-match", ""):
            return Response(b"", status_code=304, headers=headers)
        return Response(bundle.data, media_type=GZIP, headers=headers)

    return policy_bundle


class PolicyController(Controller):
    path = "/v1/policy"
    tags = ["policy"]

    @get(
        "/status",
        summary="Which policy revision runs (on OPA: the one OPA activated), the last change "
        "refused, and the bundle served to OPA",
        **answers(404),
    )
    async def policy_status(
        self,
        subject: NamedDependency[Subject],
        policy_status: NamedDependency[PolicyStatusService],
    ) -> PolicyReport:
        return await policy_status.report(subject)
