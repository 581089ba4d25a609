"""MCP Policy Gateway: MCP server configurations for users and enterprises, every scoping and
role decision made by Rego policies."""

__version__ = "0.1.0"
