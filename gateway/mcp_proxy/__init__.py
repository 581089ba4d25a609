"""The MCP proxy: `/mcp`, one stateless Streamable HTTP MCP endpoint that aggregates the
HTTP servers of the caller's merged view, every tool, resource and prompt decided by the
policy (docs/mcp-proxy.md, docs/adr/0051-stateless-mcp.md).

- endpoint.py: the ASGI mount, the SDK's transport, what is refused before it reads
- handlers.py: tools, resources (and templates) and prompts, listed and used
- decisions.py: tool.call, resource.read, prompt.get, and how a denial travels
- names.py: names and URIs namespaced by server
- upstreams.py: the process's upstream clients (per user, server and record version)
- network.py: the connection guard (no internal addresses unless allowed), the answer bound
- services.py: what the proxy uses of the gateway (injected); wire.py: its refusals
"""

from gateway.mcp_proxy.endpoint import MCPProxy

__all__ = ["MCPProxy"]
