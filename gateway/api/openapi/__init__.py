"""The OpenAPI document: what each operation answers, and the refinements that make it say
what the gateway enforces (docs/adr/0048-openapi-contract.md)."""
