"""`Allow` on the automatic OPTIONS answer lists every method of the path.

Litestar 2 builds that answer when it registers a path's first handler and never updates it, so
on a path served by several handlers it names only the first one's methods (litestar#4169;
fixed in Litestar 3). A 405 already lists them all. This `before_send` hook rewrites the header
from the route's final method set; it touches only OPTIONS answers."""

from __future__ import annotations

from typing import Any

from litestar.routes import HTTPRoute
from litestar.types import Message, Scope


async def complete_allow_header(message: Message, scope: Scope) -> None:
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    template = scope.get("path_template")
    methods = next(
        (
            route.methods
            for route in scope["app"].routes
            if isinstance(route, HTTPRoute) and route.path_format == template
        ),
        None,
    )
    if methods is None:
        return
    allow = ", ".join(sorted(methods)).encode()
    headers: list[Any] = [(k, v) for k, v in message.get("headers") or () if k.lower() != b"allow"]
    headers.append((b"allow", allow))
    message["headers"] = headers
