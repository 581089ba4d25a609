"""The bundled marketplace catalog: curated MCP server listings and their loader.

A listing is a template for a server: creating a server from it copies the launch fields
(`listing_server_fields`). The catalog file is data a security team reviews, so the loader is
strict (unknown fields are errors) and every error names the file, the entry and the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, get_args

import msgspec

from gateway.domain.ids import VISIBLE_CHAR, EnvVarName, ListingId, whole
from gateway.domain.servers import (
    Arg,
    Command,
    Name,
    ServerFields,
    Transport,
    check_launch_fields,
)
from gateway.domain.validation import field_error
from gateway.errors import InvalidInput

BUNDLED_CATALOG_PATH = Path(__file__).with_name("catalog.json")

# The fixed category vocabulary; a listing naming anything else fails to load.
Category = Literal[
    "browser",  # drives or inspects a web browser
    "cloud",  # cloud platforms and infrastructure
    "communication",  # chat and messaging
    "data",  # databases and data stores
    "developer-tools",  # source control, code and developer workflows
    "documentation",  # looks up product or library documentation
    "files",  # local files
    "knowledge",  # memory, notes and knowledge bases
    "maps",  # places, routes and geocoding
    "media",  # image generation
    "monitoring",  # errors, logs and observability
    "payments",  # payment platforms
    "productivity",  # issue trackers, wikis and workspaces
    "reference",  # reference servers of the MCP project, current or archived
    "search",  # web search
    "utilities",  # small self-contained helpers (time, reasoning)
    "web",  # fetching and scraping web pages
]
CATEGORIES: tuple[str, ...] = get_args(Category)

Publisher = Name
ListingDescription = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
HttpsUrl = Annotated[
    str,
    # VISIBLE_CHAR, not `\S`: `\S` differs between Python and ECMAScript
    msgspec.Meta(
        max_length=2048,
        pattern=whole(rf"https://[A-Za-z0-9.-]+(:[0-9]{{1,5}})?(/{VISIBLE_CHAR}*)?"),
    ),
]
Categories = Annotated[tuple[Category, ...], msgspec.Meta(min_length=1, max_length=8)]
ListingArgs = Annotated[tuple[Arg, ...], msgspec.Meta(max_length=64)]
ListingEnv = Annotated[tuple[EnvVarName, ...], msgspec.Meta(max_length=64)]


class CatalogError(Exception):
    """A catalog file that cannot be loaded; the message names file, entry and field."""


class Listing(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One marketplace entry; tuples keep a loaded catalog immutable and hashable."""

    id: ListingId
    name: Name
    description: ListingDescription
    publisher: Publisher
    homepage: HttpsUrl
    categories: Categories
    transport: Transport
    command: Command | None = None
    args: ListingArgs = ()
    url: HttpsUrl | None = None  # remote listings must use TLS
    env: ListingEnv = ()  # names of the secrets the user must supply, never values

    def __post_init__(self) -> None:
        # Same transport/command/url rule as a server, so every listing can become one.
        check_launch_fields(_as_server_fields(self))
        if len(set(self.categories)) != len(self.categories):
            raise InvalidInput.field("categories", "lists a category twice")


# What a server made from a listing takes from it.
LAUNCH_FIELDS = ("transport", "command", "args", "url", "env")


def listing_server_fields(listing: Listing) -> dict[str, Any]:
    """The fields of a server created from `listing`; fresh lists, so callers may edit them."""
    fields: dict[str, Any] = {"name": listing.name, "description": listing.description}
    for name in LAUNCH_FIELDS:
        value = getattr(listing, name)
        fields[name] = list(value) if isinstance(value, tuple) else value
    fields["marketplace_listing_id"] = listing.id
    return fields


def launch_fields(listing: Listing) -> dict[str, Any]:
    """How a server made from `listing` is launched (what restricted installs compare)."""
    fields = listing_server_fields(listing)
    return {name: fields[name] for name in LAUNCH_FIELDS}


def _as_server_fields(listing: Listing) -> ServerFields:
    return ServerFields(**listing_server_fields(listing))


class Catalog:
    """Listings sorted by id, so listing order and equality do not depend on the file."""

    __slots__ = ("_by_id", "_listings")

    def __init__(self, listings: Iterable[Listing] = ()) -> None:
        ordered = tuple(sorted(listings, key=lambda item: item.id))
        by_id: dict[str, Listing] = {}
        for item in ordered:
            if item.id in by_id:
                raise ValueError(f"duplicate listing id {item.id!r}")
            by_id[item.id] = item
        self._listings = ordered
        self._by_id = by_id

    @property
    def listings(self) -> tuple[Listing, ...]:
        return self._listings

    @property
    def categories(self) -> tuple[str, ...]:
        """The categories used by at least one listing, sorted."""
        return tuple(sorted({c for item in self._listings for c in item.categories}))

    def get(self, listing_id: str) -> Listing | None:
        return self._by_id.get(listing_id)

    def search(self, q: str | None = None, category: str | None = None) -> list[Listing]:
        """Listings whose name or description contains `q` (any case) and, if given, in
        exactly `category`; a blank `q` matches everything."""
        needle = q.strip().casefold() if q else ""
        return [
            item
            for item in self._listings
            if (category is None or category in item.categories)
            and (
                not needle
                or needle in item.name.casefold()
                or needle in item.description.casefold()
            )
        ]

    def __len__(self) -> int:
        return len(self._listings)

    def __iter__(self) -> Iterator[Listing]:
        return iter(self._listings)

    def __contains__(self, listing_id: object) -> bool:
        return listing_id in self._by_id

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Catalog):
            return NotImplemented
        return self._listings == other._listings

    def __hash__(self) -> int:
        return hash(self._listings)

    def __repr__(self) -> str:
        return f"Catalog({len(self._listings)} listings)"


class _Document(msgspec.Struct, forbid_unknown_fields=True):
    """The top level of the file; listings stay raw so each is decoded on its own."""

    version: Literal[1]
    listings: list[Any]


def _field_message(err: msgspec.ValidationError | InvalidInput) -> str:
    """ "env[0]: <what is wrong>", naming the field like every validation message does."""
    if isinstance(err, InvalidInput):
        return "; ".join(f"{field}: {message}" for field, message in err.fields.items())
    path, message = field_error(err)
    return f"{path}: {message}" if path else message


def _entry_label(index: int, raw: object) -> str:
    label = f"listing #{index}"
    if isinstance(raw, dict) and isinstance(raw.get("id"), str):
        label += f" (id {raw['id'][:128]!r})"
    return label


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A repeated key would silently win over the first; in a reviewed file that hides edits.
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r} in an object")
        obj[key] = value
    return obj


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(
            text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as e:
        raise CatalogError(
            f"{where}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}"
        ) from e
    except ValueError as e:  # from the hooks above
        raise CatalogError(f"{where}: invalid JSON: {e}") from e


def load_catalog(path: str | Path) -> Catalog:
    """Read and validate a catalog file; any problem raises CatalogError, nothing is cached."""
    where = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as e:
        raise CatalogError(f"{where}: cannot read: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise CatalogError(f"{where}: not UTF-8 (byte {e.start})") from e

    raw = _parse_json(text, where)
    try:
        doc = msgspec.convert(raw, _Document)
    except msgspec.ValidationError as e:
        raise CatalogError(f"{where}: {_field_message(e)}") from e

    listings: list[Listing] = []
    first_index: dict[str, int] = {}
    for index, entry in enumerate(doc.listings):
        label = _entry_label(index, entry)
        try:
            listing = msgspec.convert(entry, Listing)
        except (msgspec.ValidationError, InvalidInput) as e:
            raise CatalogError(f"{where}: {label}: {_field_message(e)}") from e
        if listing.id in first_index:
            raise CatalogError(
                f"{where}: {label}: id: duplicate of listing #{first_index[listing.id]}"
            )
        first_index[listing.id] = index
        listings.append(listing)
    return Catalog(listings)


def catalog_changed(path: str | Path) -> datetime:
    """When the catalog file last changed: the time every listing was last updated, as far as
    anyone can tell (the same on every replica of one deployment)."""
    return datetime.fromtimestamp(Path(path).stat().st_mtime, UTC)


def load_bundled_catalog() -> Catalog:
    """The catalog shipped with the gateway (package data next to this module)."""
    return load_catalog(BUNDLED_CATALOG_PATH)
