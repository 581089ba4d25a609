"""The bundled marketplace: curated MCP server listings users can install from
(gateway/marketplace/catalog.py and catalog.json)."""
