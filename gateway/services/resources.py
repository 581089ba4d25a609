"""The `resource` part of policy input, built from entities (field names are the Rego contract)."""

from __future__ import annotations

from typing import Any

from gateway.domain.servers import EnterpriseMCPServer, MCPServerConfig


def view_resource(server: MCPServerConfig | EnterpriseMCPServer) -> dict[str, Any]:
    """A server as reached through the merged view (`/v1/mcp-servers/{id}`)."""
    if isinstance(server, MCPServerConfig):
        return {
            "type": "mcp_server",
            "id": server.id,
            "source": "personal",
            "user_id": server.user_id,
        }
    return {
        "type": "mcp_server",
        "id": server.id,
        "source": "enterprise",
        "enterprise_id": server.enterprise_id,
        "auto_enabled": server.auto_enabled,
    }


def enterprise_server_resource(server: EnterpriseMCPServer) -> dict[str, Any]:
    return {
        "type": "enterprise_mcp_server",
        "id": server.id,
        "enterprise_id": server.enterprise_id,
        "auto_enabled": server.auto_enabled,
    }


def new_personal_server_resource(user_id: str) -> dict[str, Any]:
    return {"type": "mcp_server", "source": "personal", "user_id": user_id}
