"""RFC 9728 protected resource metadata for `/mcp` (no auth, as clients fetch it before they
have a token): at the path-suffixed form the spec derives from the resource URI, and at the
root form some clients try first. Public and the same for everyone: any origin may read it."""

from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency

from gateway.api.openapi.answers import public
from gateway.auth.resource_metadata import WELL_KNOWN, ProtectedResourceMetadata, metadata
from gateway.wiring import Runtime

_HEADERS = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}


@get(
    [f"{WELL_KNOWN}/mcp", WELL_KNOWN],
    tags=["oauth"],
    summary="OAuth protected resource metadata of /mcp (RFC 9728)",
    **public(),
)
async def protected_resource_metadata(
    runtime: NamedDependency[Runtime],
) -> Response[ProtectedResourceMetadata]:
    return Response(metadata(runtime.settings), headers=_HEADERS)
