"""Use cases: build policy input, ask the Authorizer, call the stores. No HTTP here, so the
MCP proxy can reuse them."""
