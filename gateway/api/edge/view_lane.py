"""`GET /v1/mcp-servers` answered by the edge itself: the merged view is what every client
polls, and Litestar's per-request machinery for one route (the authentication middleware's
connection object, the signature model, two dependencies, the Response and its conversion)
was a quarter of a warm read's CPU (docs/performance.md, ADR 0059).

The lane calls what the route's handler calls — the Authenticator (token, rate count,
memberships), `view_page` (the scope decision, the view cache) and the same If-None-Match
rules — and sends the same answer. Its errors go through Litestar's own exception handling
with the route's handlers, so an error is the same answer too. It takes only a plain
request: `GET` of exactly the path, no root path, `limit` and `cursor` at most once each and
already in their grammar, a well-formed If-None-Match (or none), a valid Host. Anything else
goes to Litestar's route, which answers or refuses it, before the lane has done anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, cast

from litestar import Litestar
from litestar._asgi.utils import is_valid_host, wrap_in_exception_handler
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    Scope,
    Send,
)
from litestar.utils.scope.state import ScopeState

from gateway.api.merged_view import view_page
from gateway.api.preconditions import not_modified
from gateway.domain.versions import IfNoneMatch
from gateway.errors import GatewayError
from gateway.services.pagination import DEFAULT_LIMIT, MAX_LIMIT
from gateway.wiring import Services

PATH = "/v1/mcp-servers"
_LIMIT = re.compile(rb"[1-9][0-9]{0,3}")
_CURSOR = re.compile(rb"[A-Za-z0-9_=-]{1,512}")  # empty or escaped: Litestar's to parse
_JSON = (b"content-type", b"application/json")
_FAILURE = "gateway.view_lane.failure"  # the scope's extension key: the error to answer


class ViewLane:
    """`services_of`: the running gateway's services (raises before the lifespan opened them,
    which the route's exception handling answers as the route would)."""

    def __init__(self, services_of: Callable[[], Services]) -> None:
        self._services_of = services_of
        # What the route's errors become: Litestar's exception handling around an app that
        # re-raises the lane's error (so the happy path's `send` is not wrapped by it).
        self._refuse: ASGIApp = wrap_in_exception_handler(app=_raise_failure)
        self._handler: Any = None
        self._template = PATH
        self._exception_handlers: Any = None
        self.served = 0

    def bind(self, app: Litestar) -> None:
        """The route this lane stands in for: its handler (for the error handling it
        resolves) and template (for the request counter)."""
        _asgi, handler, _path, _params, template = app.asgi_router.handle_routing(PATH, "GET")
        self._handler = handler
        self._template = template
        self._exception_handlers = handler.resolve_exception_handlers()

    def plain(self, scope: Scope) -> tuple[int, str | None, IfNoneMatch | None] | None:
        """The request's limit, cursor and If-None-Match when the lane may answer it, else
        None (Litestar's route answers). Decides nothing about the caller."""
        if self._handler is None or scope.get("root_path"):
            return None
        limit, cursor = _query(scope.get("query_string", b""))
        if limit is None:
            return None
        condition: IfNoneMatch | None = None
        for name, value in scope["headers"]:
            if name == b"host" and not is_valid_host(value):
                return None
            if name == b"if-none-match" and condition is None:
                try:
                    condition = IfNoneMatch.parse(value.decode("latin-1"))
                except GatewayError:
                    return None  # the route names what is wrong with it
        return limit, cursor, condition

    async def __call__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        asked: tuple[int, str | None, IfNoneMatch | None],
    ) -> None:
        scope["route_handler"] = self._handler
        scope["path_template"] = self._template
        scope["path_params"] = {}
        ScopeState.from_scope(scope).exception_handlers = self._exception_handlers
        self.served += 1
        try:
            start, body = await self._answer(scope, asked)
        except Exception as exc:  # before anything was sent: answered as the route would
            cast(dict[str, Any], scope)[_FAILURE] = exc
            await self._refuse(scope, receive, send)
            return
        await send(start)
        await send(body)

    async def _answer(
        self, scope: Scope, asked: tuple[int, str | None, IfNoneMatch | None]
    ) -> tuple[HTTPResponseStartEvent, HTTPResponseBodyEvent]:
        limit, cursor, condition = asked
        services = self._services_of()
        # As BearerAuthenticationMiddleware reads it: the first Authorization header.
        header = next(
            (v.decode("latin-1") for n, v in scope["headers"] if n == b"authorization"), None
        )
        subject = await services.authenticator.authenticate(header, mcp=False)
        scope["user"] = subject
        encoded = await view_page(services.servers, subject, limit, cursor)
        etag = (b"etag", encoded.etag.encode())
        if not_modified(encoded, condition):
            return (
                {"type": "http.response.start", "status": 304, "headers": [etag]},
                {"type": "http.response.body", "body": b"", "more_body": False},
            )
        length = (b"content-length", str(len(encoded.body)).encode())
        return (
            {"type": "http.response.start", "status": 200, "headers": [etag, _JSON, length]},
            {"type": "http.response.body", "body": encoded.body, "more_body": False},
        )


async def _raise_failure(scope: Scope, receive: Receive, send: Send) -> None:
    raise cast(dict[str, Any], scope).pop(_FAILURE)


def _query(raw: bytes) -> tuple[int | None, str | None]:
    """`limit` and `cursor` from a query string the lane can read without decoding: each at
    most once, digits and base64url. (None, None) for anything else."""
    limit: int | None = None
    cursor: bytes | None = None
    if not raw:
        return DEFAULT_LIMIT, None
    for pair in raw.split(b"&"):
        name, _eq, value = pair.partition(b"=")
        if name == b"limit" and limit is None and _LIMIT.fullmatch(value):
            limit = int(value)
            if limit > MAX_LIMIT:
                return None, None
        elif name == b"cursor" and cursor is None and _CURSOR.fullmatch(value):
            cursor = value
        else:
            return None, None
    return (limit or DEFAULT_LIMIT), cursor.decode() if cursor is not None else None
