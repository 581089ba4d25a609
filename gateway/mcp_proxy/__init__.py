"""The MCP proxy: `/mcp`, one Streamable HTTP MCP endpoint per user that aggregates the HTTP
servers of the caller's merged view, every tool decided by the policy (docs/mcp-proxy.md).

- endpoint.py: the ASGI mount, its session manager and who is asking
- handlers.py: tools/list and tools/call
- decisions.py: the `tool.call` decisions and how a denial travels (an MCP error)
- names.py: tool names namespaced by server
- upstreams.py: the upstream clients, pooled per process by user, server and record version
- network.py: the connection guard (no internal addresses unless allowed), the answer bound
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.mcp_proxy.endpoint import MCPProxy

__all__ = ["MCPProxy"]


def __getattr__(name: str) -> object:
    # Imported on first use, so that importing one module of the package (upstreams,
    # network) does not import the endpoint and the MCP server with it.
    if name == "MCPProxy":
        from gateway.mcp_proxy.endpoint import MCPProxy

        return MCPProxy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
