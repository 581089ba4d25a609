"""`/v0.1/servers`: the MCP Registry API (read-only), so registry clients (VS Code's MCP gallery,
`chat.mcp.gallery.serviceUrl`) list what the policy lets the caller see. Open to anonymous
callers; a bearer token shows the caller's own view too (docs/registry.md, ADR 0056).

A server name is `namespace/name` and clients send it URL-encoded (`%2F`); the path reaches
the router decoded, so the name is two path segments here."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from gateway.api.openapi.answers import token_optional
from gateway.domain.ids import whole
from gateway.domain.subjects import Subject
from gateway.errors import UnprocessableInput
from gateway.services.registry import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    RegistryQuery,
    RegistryService,
    ServerList,
    ServerResponse,
)

# The bearer middleware leaves these paths alone: the handlers authenticate optionally.
REGISTRY_PATHS = "^/v0\\.1(/|$)"

Search = Annotated[
    str | None,
    Parameter(max_length=200, description="text searched for in names, titles and descriptions"),
]
RegistryCursor = Annotated[
    str | None,
    Parameter(
        max_length=400,
        pattern=whole(r"[A-Za-z0-9_=-]{0,400}"),
        description="metadata.nextCursor of the previous page",
    ),
]
RegistryLimit = Annotated[
    int, Parameter(ge=1, le=MAX_LIMIT, description="page size (default 30, at most 100)")
]
VersionFilter = Annotated[
    str | None,
    Parameter(
        max_length=255,
        description="`latest` (every entry: the gateway keeps one version of each) or a version",
    ),
]
# A string with the RFC 3339 form (a `datetime` parameter would take `null` for "none"); a
# well-formed but impossible time (month 13) is a 422 naming it, as in the audit API.
RFC3339 = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
UpdatedSince = Annotated[
    str | None,
    Parameter(
        max_length=64,
        pattern=whole(RFC3339),
        description="entries changed at or after this RFC 3339 time (2025-08-07T13:15:04.280Z)",
    ),
]
Namespace = Annotated[
    str, Parameter(max_length=200, pattern=whole(r"[a-zA-Z0-9.-]{1,200}"), description="namespace")
]
Name = Annotated[
    str, Parameter(max_length=200, pattern=whole(r"[a-zA-Z0-9._-]{1,200}"), description="name")
]
Version = Annotated[
    str, Parameter(max_length=255, description="a version, or `latest` for the current one")
]


def _moment(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:  # fromisoformat keeps microseconds: RFC 3339 allows more digits than it reads
        return datetime.fromisoformat(re.sub(r"(\.[0-9]{6})[0-9]+", r"\1", value.upper()))
    except ValueError as exc:
        raise UnprocessableInput.field(name, f"not a time: {exc}") from None


class RegistryController(Controller):
    path = "/v0.1/servers"
    tags = ["registry"]

    @get(
        "/",
        summary="MCP servers the caller may see (MCP Registry API)",
        **token_optional(422),
    )
    async def list_servers(
        self,
        caller: NamedDependency[Subject],
        registry: NamedDependency[RegistryService],
        search: Search = None,
        cursor: RegistryCursor = None,
        limit: RegistryLimit = DEFAULT_LIMIT,
        version: VersionFilter = None,
        updated_since: UpdatedSince = None,
    ) -> ServerList:
        query = RegistryQuery(
            search=search,
            cursor=cursor,
            limit=limit,
            version=version,
            updated_since=_moment("updated_since", updated_since),
        )
        return await registry.servers(caller, query)

    @get(
        "/{namespace:str}/{name:str}/versions",
        summary="The versions of one server (the gateway keeps one: the current)",
        **token_optional(404),
    )
    async def list_versions(
        self,
        caller: NamedDependency[Subject],
        registry: NamedDependency[RegistryService],
        namespace: Namespace,
        name: Name,
    ) -> ServerList:
        return await registry.versions(caller, f"{namespace}/{name}")

    @get(
        "/{namespace:str}/{name:str}/versions/{version:str}",
        summary="One version of a server; `latest` is the current one",
        **token_optional(404),
    )
    async def get_version(
        self,
        caller: NamedDependency[Subject],
        registry: NamedDependency[RegistryService],
        namespace: Namespace,
        name: Name,
        version: Version,
    ) -> ServerResponse:
        return await registry.server(caller, f"{namespace}/{name}", version)
