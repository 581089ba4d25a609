"""Authentication for every `/v1` route: a router-level guard, so no route can forget it."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from gateway.domain.subjects import LOCAL_DEV_SUBJECT, Subject
from gateway.errors import Unauthenticated


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    backends = connection.app.state.backends
    if backends.verifier is None:  # GATEWAY_AUTH_ENABLED=false: the ADR's local-dev mode
        connection.state.subject = LOCAL_DEV_SUBJECT
        return
    header = connection.headers.get("authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("missing bearer token")
    claims = await backends.verifier.verify(token.strip())
    connection.state.subject = await backends.subjects.resolve(claims)


async def provide_subject(request: Request[Any, Any, Any]) -> Subject:
    subject: Subject = request.state.subject
    return subject
