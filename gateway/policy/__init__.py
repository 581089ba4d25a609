"""The policy decision point: one engine interface, an embedded (regopy) and an OPA engine."""
