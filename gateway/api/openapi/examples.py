"""Examples on the main operations, so the interactive docs and generated clients show real
payloads: answers recorded from the gateway itself (ids and times kept as it wrote them).
tests/api/test_openapi_document.py validates each one against its schema."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.api.errors import DenialBody, ErrorBody, FieldError
from gateway.domain.decisions import Reason

_ENT = "ent_01a23019700251eaa5b227b92e7a"
_EMCP = "emcp_01a2301970102daed8b768fa4b55"

PERSONAL_CREATE: dict[str, Any] = {
    "name": "github",
    "transport": "stdio",
    "command": "npx",
    "args": ["-y", "@modelcontextprotocol/server-github"],
    "env": ["GITHUB_PERSONAL_ACCESS_TOKEN"],
}
PERSONAL: dict[str, Any] = {
    "source": "personal",
    **PERSONAL_CREATE,
    "description": "",
    "url": None,
    "headers": {},
    "enabled": True,
    "marketplace_listing_id": None,
    "id": "mcp_01a230196ff94b54de2a5073b824",
    "user_id": "alice",
    "credentials_set": [],
    "created_at": "2026-12-01T05:35:03.161188Z",
    "updated_at": "2026-12-01T05:35:03.161188Z",
}
ENTERPRISE_CREATE: dict[str, Any] = {
    "name": "linear",
    "transport": "streamable_http",
    "url": "https://mcp.linear.app/mcp",
    "headers": {"Authorization": "Bearer ${LINEAR_API_KEY}"},
    "env": ["LINEAR_API_KEY"],
    "auto_enabled": True,
}
ENTERPRISE: dict[str, Any] = {
    "source": "enterprise",
    **ENTERPRISE_CREATE,
    "description": "",
    "command": None,
    "args": [],
    "enabled": True,
    "marketplace_listing_id": None,
    "id": _EMCP,
    "enterprise_id": _ENT,
    "created_by": "alice",
    "credentials_set": [],
    "created_at": "2026-12-01T05:35:03.184352Z",
    "updated_at": "2026-12-01T05:35:03.184352Z",
}


def _body(error: ErrorBody) -> dict[str, Any]:
    """An error example as the gateway writes it: from the Struct it encodes."""
    body: dict[str, Any] = msgspec.to_builtins(error)
    return body


MANAGED_DENIAL = _body(
    DenialBody(
        status_code=403,
        detail=f"mcp_server.update on MCP server {_EMCP} denied by policy",
        reasons=[
            Reason(
                code="enterprise_managed",
                message=f"{_EMCP} is managed by enterprise {_ENT}: members cannot change it; "
                "owners and admins manage it through /v1/enterprise/mcp-servers",
            )
        ],
        decision_id="8641e6eb-77ea-4023-b505-33ad4cc4f5df",
    )
)
ROLE_DENIAL = _body(
    DenialBody(
        status_code=403,
        detail=f"enterprise_server.create on enterprise {_ENT} denied by policy",
        reasons=[
            Reason(
                code="role_required",
                message=f"enterprise_server.create needs one of the roles admin, owner in "
                f"enterprise {_ENT}; your role is member",
            )
        ],
        decision_id="b23540ee-21a3-42e3-bab1-5c56faf83ec1",
    )
)
UNKNOWN_FIELD = _body(
    ErrorBody(
        status_code=400,
        detail="invalid colour: is not a known field",
        extra=[FieldError(key="colour", message="is not a known field")],
    )
)
_UNDECLARED = "'Authorization' references ${LINEAR_API_KEY}, which is not declared in `env`"
UNDECLARED_REFERENCE = _body(
    ErrorBody(
        status_code=422,
        detail=f"invalid headers: {_UNDECLARED}",
        extra=[FieldError(key="headers", message=_UNDECLARED)],
    )
)


def _one(summary: str, value: Any) -> dict[str, Any]:
    return {summary.split(":")[0].lower().replace(" ", "_"): {"summary": summary, "value": value}}


# (path, method) -> "request" and/or the answers' statuses, each a name -> Example map.
EXAMPLES: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("/v1/mcp-servers", "post"): {
        "request": _one("A personal stdio server", PERSONAL_CREATE),
        "201": _one("The installed server", PERSONAL),
        "400": _one("An unknown field", {**UNKNOWN_FIELD}),
        "422": _one(
            "A header referencing an env var the server does not declare", UNDECLARED_REFERENCE
        ),
    },
    ("/v1/mcp-servers", "get"): {
        "200": _one(
            "A member's view: a personal and an auto-enabled enterprise server",
            {"items": [PERSONAL | {"user_id": "bob"}, ENTERPRISE], "next_cursor": None},
        ),
    },
    ("/v1/mcp-servers/{server_id}", "get"): {
        "200": {
            "personal": {"summary": "A personal server", "value": PERSONAL},
            "enterprise": {"summary": "An enterprise server in the view", "value": ENTERPRISE},
        },
    },
    ("/v1/mcp-servers/{server_id}", "patch"): {
        "request": _one("Turn a server off", {"enabled": False}),
        "403": _one("A member changing an enterprise server: denied", MANAGED_DENIAL),
    },
    ("/v1/enterprise/mcp-servers", "post"): {
        "request": _one("An auto-enabled HTTP server with a secret header", ENTERPRISE_CREATE),
        "201": _one("The approved server", ENTERPRISE),
        "403": _one("A member approving a server: denied", ROLE_DENIAL),
    },
}


def add_examples(document: dict[str, Any]) -> None:
    for (path, method), examples in EXAMPLES.items():
        operation = document["paths"][path][method]
        for where, named in examples.items():
            if where == "request":
                media = operation["requestBody"]["content"]["application/json"]
            else:
                media = operation["responses"][where]["content"]["application/json"]
            media["examples"] = named
