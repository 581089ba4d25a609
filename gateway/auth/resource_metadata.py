"""The MCP endpoint as an OAuth 2.1 protected resource (the MCP authorization spec): its
RFC 9728 metadata, and the `WWW-Authenticate` challenges that point clients at it, so a
client that knows only the gateway's URL finds where to log in."""

from __future__ import annotations

import msgspec

from gateway.config import Settings

WELL_KNOWN = "/.well-known/oauth-protected-resource"


class ProtectedResourceMetadata(msgspec.Struct, kw_only=True):
    """RFC 9728 §2 (only the fields the gateway can state; no scopes when none are used)."""

    resource: str
    authorization_servers: list[str]
    bearer_methods_supported: list[str]
    scopes_supported: list[str] | msgspec.UnsetType = msgspec.UNSET
    resource_name: str


def metadata(settings: Settings) -> ProtectedResourceMetadata:
    return ProtectedResourceMetadata(
        resource=settings.mcp_resource,
        authorization_servers=list(settings.oauth_authorization_servers),
        bearer_methods_supported=["header"],
        scopes_supported=list(settings.mcp_scopes) or msgspec.UNSET,
        resource_name="MCP Policy Gateway",
    )


def metadata_url(settings: Settings) -> str:
    """RFC 9728 §3.1: the well-known path inserted before the resource's own path."""
    return f"{settings.base_url}{WELL_KNOWN}/mcp"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def challenge(
    settings: Settings | None,
    *,
    error: str | None = None,
    description: str | None = None,
    scopes: tuple[str, ...] = (),
) -> str:
    """A Bearer challenge (RFC 6750 §3, RFC 9728 §5.1): `error` only when a token was sent
    (`invalid_token`) or lacked scope (`insufficient_scope`)."""
    params = [("realm", "mcp-gateway")]
    if settings is not None:
        params.append(("resource_metadata", metadata_url(settings)))
    if error is not None:
        params.append(("error", error))
    if description is not None:
        params.append(("error_description", description))
    if scopes:
        params.append(("scope", " ".join(scopes)))
    return "Bearer " + ", ".join(f"{name}={_quoted(value)}" for name, value in params)
