"""Where a request went, as the edge's middleware must name it. Litestar runs them after
routing, and for a mount (`/mcp`) it has already cut the mount's path off `scope["path"]`
(it reads `/`) and leaves `path_template` empty: admission, the request scope and the
request counter would otherwise all see `/mcp` as `/` or nothing."""

from __future__ import annotations

from urllib.parse import unquote

from litestar.types import Scope


def _mount_path(scope: Scope) -> str | None:
    handler = scope.get("route_handler")
    if not getattr(handler, "is_mount", False):
        return None
    paths = sorted(getattr(handler, "paths", ()) or ())
    return paths[0] if paths else None


def request_path(scope: Scope) -> str:
    """The path the client asked for (decoded, without the query)."""
    raw = scope.get("raw_path")
    if raw and _mount_path(scope) is not None:
        return unquote(raw.decode("latin-1"))
    return scope["path"]


def route_template(scope: Scope) -> str:
    """The route's template (`/v1/mcp-servers/{server_id:str}`, `/mcp`), or "" for a path
    that matched no route."""
    return scope.get("path_template") or _mount_path(scope) or ""
