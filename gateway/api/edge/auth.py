"""Authentication for every route but the few in `UNAUTHENTICATED`: a Litestar
authentication middleware, so no route can forget it and handlers get a typed
`request.user` (the policy's Subject)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp

from gateway.api.edge.paths import request_path
from gateway.services.identity import Authenticator

# Liveness, readiness and the OpenAPI document are for probes and tooling; everything else
# needs a bearer token (or local-dev mode).
# The console authenticates its pages itself (its cookie, the same Authenticator), so an
# expired session is a redirect to its log-in form, not a JSON 401.
UNAUTHENTICATED = ["^/healthz$", "^/readyz$", "^/schema", "^/\\.well-known/", "^/console(/|$)"]
MCP_PATHS = frozenset({"/mcp", "/mcp/"})


class BearerAuthenticationMiddleware(AbstractAuthenticationMiddleware):
    def __init__(
        self,
        app: ASGIApp,
        authenticator: Callable[[], Authenticator],
        exclude: list[str] | None = None,
    ) -> None:
        super().__init__(app, exclude=exclude)
        self._authenticator = authenticator

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        # Straight from the raw headers: building Litestar's Headers for one look is ~5 % of
        # a warm read. Repeated headers: the first (as Headers.get answers).
        header = next(
            (
                value.decode("latin-1")
                for name, value in connection.scope["headers"]
                if name == b"authorization"
            ),
            None,
        )
        mcp = request_path(connection.scope) in MCP_PATHS
        subject = await self._authenticator().authenticate(header, mcp=mcp)
        return AuthenticationResult(user=subject, auth=None)
