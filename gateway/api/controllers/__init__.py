"""Resources: one controller module per resource, thin (decode, call a service, encode)."""
