"""msgspec Structs for every entity, request and response."""
