"""The MCP proxy: `/mcp`, one Streamable HTTP MCP endpoint per user that aggregates the HTTP
servers of the caller's merged view, every tool decided by the policy (docs/mcp-proxy.md).

- endpoint.py: the ASGI mount, its session manager and who is asking
- handlers.py: tools/list and tools/call
- decisions.py: the `tool.call` decisions and how a denial travels (an MCP error)
- names.py: tool names namespaced by server
- upstreams.py: the per-session upstream clients, with timeouts
- network.py: the connection guard (no internal addresses unless allowed)
"""

from gateway.mcp_proxy.endpoint import MCPProxy

__all__ = ["MCPProxy"]
