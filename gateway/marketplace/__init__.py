"""The bundled marketplace: curated MCP server listings users can install from."""

from gateway.marketplace.catalog import (
    BUNDLED_CATALOG_PATH,
    CATEGORIES,
    Catalog,
    CatalogError,
    Listing,
    listing_server_fields,
    load_bundled_catalog,
    load_catalog,
)

__all__ = [
    "BUNDLED_CATALOG_PATH",
    "CATEGORIES",
    "Catalog",
    "CatalogError",
    "Listing",
    "listing_server_fields",
    "load_bundled_catalog",
    "load_catalog",
]
