"""HTTP controllers: one module per resource, thin (decode, call a service, encode)."""
