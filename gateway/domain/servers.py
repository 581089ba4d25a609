"""MCP server configurations: personal (`mcp_`) and enterprise (`emcp_`)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

import msgspec

from gateway.domain.ids import (
    ENV_VAR,
    READ_ONLY,
    URL_TEXT,
    DisplayName,
    EnvVarName,
    ListingId,
    matches,
    whole,
)
from gateway.errors import InvalidInput, UnprocessableInput

Transport = Literal["stdio", "streamable_http", "sse"]
Source = Literal["personal", "enterprise"]

Name = DisplayName
Description = Annotated[str, msgspec.Meta(max_length=2000)]
Command = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
Arg = Annotated[str, msgspec.Meta(max_length=4096)]
Args = Annotated[list[Arg], msgspec.Meta(max_length=64)]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2048, pattern=URL_TEXT)]
EnvNames = Annotated[
    list[EnvVarName], msgspec.Meta(max_length=64, extra_json_schema={"uniqueItems": True})
]
# HTTP transports: headers sent upstream; a value may reference a secret env var as ${NAME}.
HeaderName = Annotated[str, msgspec.Meta(pattern=whole(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}"))]
HeaderValue = Annotated[str, msgspec.Meta(pattern=whole(r"[\x20-\x7e]{0,4096}"))]
Headers = Annotated[dict[HeaderName, HeaderValue], msgspec.Meta(max_length=32)]

ENV_REF = re.compile(r"\$\{([^}]*)\}")  # `${NAME}` in a header value
# What a header can carry once its `${NAME}`s are filled in: RFC 9110's field-value as the
# proxy's HTTP client (h11) sends it, visible ASCII with spaces only inside. A CR or LF would
# split the request, and the client refuses it (or a NUL, another control character, a
# non-ASCII one, an edge space) with an error quoting the whole value: the secret, verbatim.
_SENDABLE_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?")
SENDABLE_HEADER_RULE = (
    "a header value may only hold visible ASCII characters and spaces between them (no CR, "
    "LF, NUL, tab or other control character, no non-ASCII character, no leading or trailing "
    "space)"
)


def sendable_header_value(value: str) -> bool:
    """Whether `value` can be sent as a header value (SENDABLE_HEADER_RULE)."""
    return _SENDABLE_HEADER_VALUE.fullmatch(value) is not None


def headers_using(headers: dict[str, str], env_var: str) -> list[str]:
    """The names of the headers whose value references `${env_var}`."""
    return [name for name, template in headers.items() if env_var in ENV_REF.findall(template)]


# The proxy owns these: a server may not set them (framing, routing, the MCP session).
_RESERVED_HEADERS = frozenset(
    {
        "connection",
        "content-length",
        "content-type",
        "host",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "mcp-session-id",
        "mcp-protocol-version",
        "accept",
    }
)


class ServerFields(msgspec.Struct, kw_only=True):
    """The launch fields every server has; the consistency rule lives here once."""

    name: str
    description: str = ""
    transport: Transport
    command: str | None = None
    args: list[str] = msgspec.field(default_factory=list)
    url: str | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    env: list[str] = msgspec.field(default_factory=list)
    enabled: bool = True
    marketplace_listing_id: str | None = None


# check_launch_fields' rules between fields, as the OpenAPI document states them for a create
# (gateway/api/openapi_refine.py). A PATCH is checked once merged with what is stored, which
# no schema of the PATCH body can say: there a schema-valid body may still be a 422.
TRANSPORT_RULE: dict[str, Any] = {
    "if": {"properties": {"transport": {"const": "stdio"}}, "required": ["transport"]},
    "then": {
        "required": ["command"],
        "properties": {
            "command": {"type": "string"},
            "url": {"type": "null"},
            "headers": {"maxProperties": 0},
        },
    },
    "else": {
        "required": ["url"],
        "properties": {
            "url": {"type": "string"},
            "command": {"type": "null"},
            "args": {"maxItems": 0},
        },
    },
}


def check_launch_fields(
    s: ServerFields, *, stated: type[InvalidInput] = UnprocessableInput
) -> None:
    """Raise naming the field when the fields disagree with each other. The rules a create's
    schema states (TRANSPORT_RULE, `env` unique) raise `stated`: a 400 on a create, whose
    document refuses them; a 422 on a merged PATCH, whose body the document allowed. The
    others are always a 422 (docs/api-contract.md)."""
    if s.transport == "stdio":
        if not s.command:
            raise stated.field("command", "required when `transport` is 'stdio'")
        if s.url is not None:
            raise stated.field("url", "must be null when `transport` is 'stdio'")
        if s.headers:
            raise stated.field("headers", "must be empty when `transport` is 'stdio'")
    else:
        if not s.url:
            raise stated.field("url", f"required when `transport` is {s.transport!r}")
        if s.command is not None or s.args:
            raise stated.field(
                "command", f"`command` and `args` must be empty when `transport` is {s.transport!r}"
            )
        try:
            parts = urlsplit(s.url)
        except ValueError:  # e.g. "http://[": a ValueError here would read as a schema error
            raise UnprocessableInput.field("url", "must be an absolute http(s) URL") from None
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UnprocessableInput.field("url", "must be an absolute http(s) URL")
    if len(set(s.env)) != len(s.env):
        raise stated.field("env", "lists a name twice")
    for name in s.env:
        if not matches(ENV_VAR, name):  # decoded structs are checked by Meta; this guards copies
            raise UnprocessableInput.field("env", f"{name!r} is not an env var name")
    _check_headers(s.headers, s.env)


def _check_headers(headers: dict[str, str], env: list[str]) -> None:
    seen: set[str] = set()
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in _RESERVED_HEADERS:
            raise UnprocessableInput.field(
                "headers", f"may not set {name!r}: the gateway manages it"
            )
        if lowered in seen:
            raise UnprocessableInput.field("headers", f"names {name!r} twice")
        seen.add(lowered)
        for ref in ENV_REF.findall(value):
            if ref not in env:
                raise UnprocessableInput.field(
                    "headers", f"{name!r} references ${{{ref}}}, which is not declared in `env`"
                )


class MCPServerConfig(ServerFields, kw_only=True, tag_field="source", tag="personal"):
    """A personal server; `user_id` and `source` (the tag) are read-only."""

    id: Annotated[str, READ_ONLY]
    user_id: Annotated[str, READ_ONLY]
    credentials_set: Annotated[list[str], READ_ONLY] = msgspec.field(default_factory=list)
    created_at: Annotated[datetime, READ_ONLY]
    updated_at: Annotated[datetime, READ_ONLY]


class EnterpriseMCPServer(ServerFields, kw_only=True, tag_field="source", tag="enterprise"):
    """An approved server of an enterprise; `auto_enabled` ones are in every member's view."""

    id: Annotated[str, READ_ONLY]
    enterprise_id: Annotated[str, READ_ONLY]
    auto_enabled: bool = False
    created_by: Annotated[str, READ_ONLY]
    credentials_set: Annotated[list[str], READ_ONLY] = msgspec.field(default_factory=list)
    created_at: Annotated[datetime, READ_ONLY]
    updated_at: Annotated[datetime, READ_ONLY]


AnyServer = MCPServerConfig | EnterpriseMCPServer


class ServerCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    SCHEMA_RULES: ClassVar[tuple[dict[str, Any], ...]] = (TRANSPORT_RULE,)

    name: Name
    description: Description = ""
    transport: Transport
    command: Command | None = None
    args: Args = msgspec.field(default_factory=list)
    url: Url | None = None
    headers: Headers = msgspec.field(default_factory=dict)
    env: EnvNames = msgspec.field(default_factory=list)
    enabled: bool = True
    marketplace_listing_id: ListingId | None = None

    def __post_init__(self) -> None:
        check_launch_fields(self, stated=InvalidInput)  # type: ignore[arg-type]


class EnterpriseServerCreate(ServerCreate, kw_only=True, forbid_unknown_fields=True):
    auto_enabled: bool = False


class ServerPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """PATCH body: UNSET fields keep their value; the merged result is checked again."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    transport: Transport | msgspec.UnsetType = msgspec.UNSET
    command: Command | msgspec.UnsetType | None = msgspec.UNSET
    args: Args | msgspec.UnsetType = msgspec.UNSET
    url: Url | msgspec.UnsetType | None = msgspec.UNSET
    headers: Headers | msgspec.UnsetType = msgspec.UNSET
    env: EnvNames | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    marketplace_listing_id: ListingId | msgspec.UnsetType | None = msgspec.UNSET

    def __post_init__(self) -> None:
        # `uniqueItems` is in the schema of `env` (msgspec states it, does not check it)
        if self.env is not msgspec.UNSET and len(set(self.env)) != len(self.env):
            raise InvalidInput.field("env", "lists a name twice")


class EnterpriseServerPatch(ServerPatch, kw_only=True, forbid_unknown_fields=True):
    auto_enabled: bool | msgspec.UnsetType = msgspec.UNSET


# Fields a body may never set; naming them gives a clearer 400 than "unknown field".
READ_ONLY_FIELDS = frozenset(
    {
        "id",
        "user_id",
        "source",
        "enterprise_id",
        "created_by",
        "credentials_set",
        "created_at",
        "updated_at",
    }
)


def patched(server: AnyServer, patch: ServerPatch | EnterpriseServerPatch) -> AnyServer:
    """Apply a PATCH; raises UnprocessableInput naming the field when the result is inconsistent."""
    changes = {
        f: getattr(patch, f)
        for f in patch.__struct_fields__
        if getattr(patch, f) is not msgspec.UNSET
    }
    # Switching transport clears the launch fields of the old one unless the patch sets them.
    if "transport" in changes and changes["transport"] != server.transport:
        if changes["transport"] == "stdio":
            changes.setdefault("url", None)
            changes.setdefault("headers", {})
        else:
            changes.setdefault("command", None)
            changes.setdefault("args", [])
    updated = msgspec.structs.replace(server, **changes)
    check_launch_fields(updated)
    return updated
