"""The rows of the harness, one module per scenario, in the order they run."""

from __future__ import annotations

from bench.harness.scenarios import bare, marketplace, mcp, servers, view

# The order matters: `create` grows the user's view, so it runs last.
ENDPOINTS = (
    bare.BARE,
    view.WARM,
    view.COLD,
    servers.GET,
    servers.PATCH,
    marketplace.PAGE,
    mcp.DIRECT,
    mcp.PROXIED,
    servers.CREATE,
)
