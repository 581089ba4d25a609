"""The proxy's tests use the shared fixtures (gateway_settings: memory or Redis stores, the
embedded engine or a real OPA)."""
