"""`Allow` on the automatic OPTIONS answer lists every method of the path.

Litestar 2 builds that answer when it registers a path's first handler and never updates it, so
on a path served by several handlers it names only the first one's methods (litestar#4169;
fixed in Litestar 3). A 405 already lists them all. The edge (gateway/api/edge/layer.py)
rewrites the header of OPTIONS answers from the route's final method set."""

from __future__ import annotations

from typing import Any

from litestar.routes import HTTPRoute
from litestar.types import Scope


def complete_allow(headers: list[Any], scope: Scope) -> None:
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
    headers[:] = [(k, v) for k, v in headers if k.lower() != b"allow"]
    headers.append((b"allow", ", ".join(sorted(methods)).encode()))
