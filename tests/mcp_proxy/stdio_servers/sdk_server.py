"""An MCP server over stdio written with the official Python SDK (2.x `MCPServer`), run by
the system's python3 with the SDK from the pre-populated cache (scripts/stdio-servers); the
test prepends the `sys.path` line, as a deployment's command line would."""

import os

from mcp.server.mcpserver import MCPServer

mcp = MCPServer("sdk-stdio", version="1.0.0", log_level="WARNING")


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@mcp.tool()
def whoami() -> str:
    """The sandbox as the server sees it: uid, cwd, HOME."""
    return f"uid={os.getuid()} cwd={os.getcwd()} home={os.environ.get('HOME')}"


@mcp.resource("memo://notes/hello")
def hello() -> str:
    """A note."""
    return "hello from the sandbox"


@mcp.prompt()
def greet(person: str) -> str:
    """Greet someone."""
    return f"Hello, {person}!"


mcp.run("stdio")
