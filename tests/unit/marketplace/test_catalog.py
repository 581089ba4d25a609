"""The bundled catalog is valid and the loader names file, entry and field on every error."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.domain.servers import ServerCreate
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

REFERENCE_IDS = {
    "filesystem",
    "fetch",
    "git",
    "memory",
    "time",
    "sequential-thinking",
    "everything",
}
WELL_KNOWN_IDS = {
    "github",
    "gitlab",
    "slack",
    "postgres",
    "sqlite",
    "sentry",
    "brave-search",
    "playwright",
    "notion",
}
# Launchers a reviewer can reason about; anything else in the bundled catalog needs a look.
KNOWN_LAUNCHERS = {"npx", "uvx", "docker", "node", "python", "python3"}


@pytest.fixture(scope="module")
def bundled() -> Catalog:
    return load_bundled_catalog()


def _stdio(**over: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "example",
        "name": "Example",
        "description": "An example listing.",
        "publisher": "Example Inc",
        "homepage": "https://example.com/mcp",
        "categories": ["utilities"],
        "transport": "stdio",
        "command": "npx",
        "args": ["-y", "example-mcp"],
        "env": ["EXAMPLE_TOKEN"],
    }
    entry.update(over)
    return entry


def _remote(**over: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "remote",
        "name": "Remote",
        "description": "A hosted listing.",
        "publisher": "Example Inc",
        "homepage": "https://example.com/remote",
        "categories": ["search"],
        "transport": "streamable_http",
        "url": "https://mcp.example.com/mcp",
    }
    entry.update(over)
    return entry


def _write(tmp_path: Path, doc: Any, name: str = "catalog.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2), encoding="utf-8")
    return path


def _load_error(tmp_path: Path, doc: Any) -> str:
    path = _write(tmp_path, doc)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message  # always names the file
    return message


# --- the bundled catalog -------------------------------------------------------------------


def test_bundled_catalog_loads_with_enough_listings(bundled: Catalog) -> None:
    assert len(bundled) >= 20
    assert len(bundled) == len(json.loads(BUNDLED_CATALOG_PATH.read_text())["listings"])


def test_bundled_ids_are_unique_and_sorted(bundled: Catalog) -> None:
    ids = [item.id for item in bundled]
    assert len(ids) == len(set(ids))
    assert ids == sorted(ids)


def test_bundled_includes_reference_and_well_known_servers(bundled: Catalog) -> None:
    missing = (REFERENCE_IDS | WELL_KNOWN_IDS) - {item.id for item in bundled}
    assert not missing


@pytest.mark.parametrize(
    ("listing_id", "command", "args"),
    [
        ("filesystem", "npx", ["-y", "@modelcontextprotocol/server-filesystem"]),
        ("fetch", "uvx", ["mcp-server-fetch"]),
        ("git", "uvx", ["mcp-server-git", "--repository"]),
        ("memory", "npx", ["-y", "@modelcontextprotocol/server-memory"]),
        ("time", "uvx", ["mcp-server-time"]),
        ("sequential-thinking", "npx", ["-y", "@modelcontextprotocol/server-sequential-thinking"]),
        ("everything", "npx", ["-y", "@modelcontextprotocol/server-everything"]),
        ("sqlite", "uvx", ["mcp-server-sqlite", "--db-path"]),
        ("playwright", "npx", ["@playwright/mcp@latest"]),
        ("notion", "npx", ["-y", "@notionhq/notion-mcp-server"]),
    ],
)
def test_reference_launch_commands(
    bundled: Catalog, listing_id: str, command: str, args: list[str]
) -> None:
    listing = bundled.get(listing_id)
    assert listing is not None
    assert listing.transport == "stdio"
    assert listing.command == command
    assert list(listing.args[: len(args)]) == args


def test_secret_env_names_of_well_known_servers(bundled: Catalog) -> None:
    expected = {
        "github": {"GITHUB_PERSONAL_ACCESS_TOKEN"},
        "gitlab": {"GITLAB_PERSONAL_ACCESS_TOKEN", "GITLAB_API_URL"},
        "slack": {"SLACK_BOT_TOKEN", "SLACK_TEAM_ID"},
        "brave-search": {"BRAVE_API_KEY"},
        "notion": {"NOTION_TOKEN"},
        "stripe": {"STRIPE_SECRET_KEY"},
        "google-maps": {"GOOGLE_MAPS_API_KEY"},
    }
    for listing_id, names in expected.items():
        listing = bundled.get(listing_id)
        assert listing is not None, listing_id
        assert set(listing.env) == names, listing_id


def test_remote_listings_use_https_and_no_launch_fields(bundled: Catalog) -> None:
    remotes = [item for item in bundled if item.transport != "stdio"]
    assert {"sentry", "linear"} <= {item.id for item in remotes}
    for item in remotes:
        assert item.url is not None and item.url.startswith("https://"), item.id
        assert item.command is None and item.args == (), item.id


def test_every_stdio_listing_uses_a_known_launcher(bundled: Catalog) -> None:
    for item in bundled:
        if item.transport == "stdio":
            assert item.command in KNOWN_LAUNCHERS, (item.id, item.command)
            assert item.url is None, item.id


def test_archived_reference_servers_say_so(bundled: Catalog) -> None:
    archived = {"gitlab", "slack", "postgres", "sqlite", "puppeteer", "google-maps", "everart"}
    for listing_id in archived:
        listing = bundled.get(listing_id)
        assert listing is not None, listing_id
        assert "servers-archived" in listing.homepage, listing_id
        assert "archived" in listing.description.lower(), listing_id
    for listing_id in REFERENCE_IDS:
        listing = bundled.get(listing_id)
        assert listing is not None
        assert "/modelcontextprotocol/servers/tree/main/src/" in listing.homepage, listing_id
        assert "archived" not in listing.description.lower(), listing_id


def test_every_bundled_listing_becomes_a_valid_server(bundled: Catalog) -> None:
    for item in bundled:
        fields = listing_server_fields(item)
        created = msgspec.convert(fields, ServerCreate)
        assert created.marketplace_listing_id == item.id
        assert created.name == item.name
        assert created.transport == item.transport
        assert created.args == list(item.args)
        assert created.env == list(item.env)


def test_bundled_categories_come_from_the_vocabulary(bundled: Catalog) -> None:
    assert set(bundled.categories) <= set(CATEGORIES)
    assert "reference" in bundled.categories


def test_loading_twice_gives_equal_catalogs() -> None:
    first = load_bundled_catalog()
    second = load_catalog(str(BUNDLED_CATALOG_PATH))
    assert first == second
    assert first is not second
    assert hash(first) == hash(second)
    assert first.listings == second.listings


# --- the Catalog API ------------------------------------------------------------------------


def test_get_returns_none_for_unknown_id(bundled: Catalog) -> None:
    assert bundled.get("no-such-listing") is None
    assert "github" in bundled
    assert "no-such-listing" not in bundled


def test_search_by_query_is_case_insensitive_over_name_and_description(bundled: Catalog) -> None:
    by_name = {item.id for item in bundled.search("GITHUB", None)}
    assert {"github", "github-remote"} <= by_name
    # "accessibility snapshots" only appears in Playwright's description.
    assert [item.id for item in bundled.search("Accessibility SNAPSHOTS", None)] == ["playwright"]
    assert bundled.search("zzz-no-match-zzz", None) == []


def test_search_by_category_is_exact(bundled: Catalog) -> None:
    browser = {item.id for item in bundled.search(None, "browser")}
    assert {"playwright", "puppeteer", "chrome-devtools"} <= browser
    assert all("browser" in item.categories for item in bundled.search(None, "browser"))
    assert bundled.search(None, "brows") == []
    assert bundled.search(None, "Browser") == []


def test_search_combines_query_and_category(bundled: Catalog) -> None:
    hits = bundled.search("sql", "data")
    assert {"postgres", "sqlite"} <= {item.id for item in hits}
    assert all("data" in item.categories for item in hits)
    assert bundled.search("sql", "payments") == []


def test_blank_query_matches_everything(bundled: Catalog) -> None:
    assert bundled.search(None, None) == list(bundled)
    assert bundled.search("   ", None) == list(bundled)


def test_catalog_orders_by_id_and_rejects_duplicates() -> None:
    b = msgspec.convert(_stdio(id="b"), Listing)
    a = msgspec.convert(_remote(id="a"), Listing)
    catalog = Catalog([b, a])
    assert [item.id for item in catalog] == ["a", "b"]
    assert catalog == Catalog([a, b])
    assert catalog.categories == ("search", "utilities")
    with pytest.raises(ValueError, match="duplicate"):
        Catalog([a, b, a])


def test_listing_server_fields_returns_fresh_lists() -> None:
    listing = msgspec.convert(_stdio(), Listing)
    fields = listing_server_fields(listing)
    assert fields == {
        "name": "Example",
        "description": "An example listing.",
        "transport": "stdio",
        "command": "npx",
        "args": ["-y", "example-mcp"],
        "url": None,
        "env": ["EXAMPLE_TOKEN"],
        "marketplace_listing_id": "example",
    }
    fields["args"].append("--evil")
    assert listing.args == ("-y", "example-mcp")


def test_listing_is_immutable() -> None:
    listing = msgspec.convert(_stdio(), Listing)
    with pytest.raises(AttributeError):
        listing.command = "sh"  # type: ignore[misc]


# --- malformed catalogs ---------------------------------------------------------------------


def _doc(*listings: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "listings": list(listings)}


def test_valid_minimal_catalog_loads(tmp_path: Path) -> None:
    catalog = load_catalog(_write(tmp_path, _doc(_stdio(), _remote())))
    assert [item.id for item in catalog] == ["example", "remote"]


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    message = _load_error(tmp_path, '{\n  "version": 1,\n  "listings": [\n    {"id": }\n  ]\n}\n')
    assert "invalid JSON" in message
    assert "line 4, column 12" in message


def test_duplicate_json_key_is_rejected(tmp_path: Path) -> None:
    text = '{"version": 1, "listings": [{"id": "a", "id": "b"}]}'
    message = _load_error(tmp_path, text)
    assert "duplicate key 'id'" in message


def test_nan_is_rejected(tmp_path: Path) -> None:
    assert "NaN" in _load_error(tmp_path, '{"version": NaN, "listings": []}')


def test_duplicate_ids_name_both_entries(tmp_path: Path) -> None:
    message = _load_error(tmp_path, _doc(_stdio(id="slack"), _remote(), _stdio(id="slack")))
    assert "listing #2 (id 'slack')" in message
    assert "id: duplicate of listing #0" in message


def test_unknown_field_names_entry_and_field(tmp_path: Path) -> None:
    message = _load_error(tmp_path, _doc(_stdio(), _remote(install_script="curl | sh")))
    assert "listing #1 (id 'remote')" in message
    assert "install_script: unknown field" in message


def test_wrong_transport_names_entry_and_field(tmp_path: Path) -> None:
    message = _load_error(tmp_path, _doc(_stdio(transport="websocket")))
    assert "listing #0 (id 'example'): transport: Invalid enum value 'websocket'" in message


def test_stdio_without_command(tmp_path: Path) -> None:
    entry = _stdio()
    del entry["command"]
    message = _load_error(tmp_path, _doc(_remote(), entry))
    assert "listing #1 (id 'example')" in message
    assert "command: required when `transport` is 'stdio'" in message


def test_url_on_stdio(tmp_path: Path) -> None:
    message = _load_error(tmp_path, _doc(_stdio(url="https://mcp.example.com/mcp")))
    assert "listing #0 (id 'example')" in message
    assert "url: must be null when `transport` is 'stdio'" in message


def test_command_on_remote(tmp_path: Path) -> None:
    message = _load_error(tmp_path, _doc(_remote(command="npx")))
    assert "listing #0 (id 'remote')" in message
    assert "command: `command` and `args` must be empty" in message


def test_remote_without_url(tmp_path: Path) -> None:
    entry = _remote()
    del entry["url"]
    message = _load_error(tmp_path, _doc(entry))
    assert "url: required when `transport` is 'streamable_http'" in message


def test_plain_http_url_is_rejected(tmp_path: Path) -> None:
    message = _load_error(tmp_path, _doc(_remote(url="http://mcp.example.com/mcp")))
    assert "listing #0 (id 'remote'): url: Expected `str` matching regex" in message


def test_bad_env_name_names_the_element(tmp_path: Path) -> None:
    message = _load_error(tmp_path, _doc(_stdio(id="slack", env=["SLACK_BOT_TOKEN", "bad-name"])))
    assert "listing #0 (id 'slack'): env[1]: Expected `str` matching regex" in message


def test_duplicate_env_name(tmp_path: Path) -> None:
    message = _load_error(tmp_path, _doc(_stdio(env=["A_TOKEN", "A_TOKEN"])))
    assert "env: lists a name twice" in message


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"id": "Bad_ID"}, "(id 'Bad_ID'): id: Expected `str` matching regex"),
        ({"name": ""}, "name: Expected `str` of length >= 1"),
        ({"description": "x" * 2001}, "description: Expected `str` of length <= 2000"),
        ({"homepage": "http://example.com"}, "homepage: Expected `str` matching regex"),
        ({"homepage": "javascript:alert(1)"}, "homepage: Expected `str` matching regex"),
        ({"categories": []}, "categories: Expected `array` of length >= 1"),
        ({"categories": ["games"]}, "categories[0]: Invalid enum value 'games'"),
        ({"categories": ["data", "data"]}, "categories: lists a category twice"),
        ({"args": ["x"] * 65}, "args: Expected `array` of length <= 64"),
        ({"command": ""}, "command: Expected `str` of length >= 1"),
        ({"env": "TOKEN"}, "env: Expected `array`, got `str`"),
    ],
)
def test_field_constraints_name_the_field(
    tmp_path: Path, override: dict[str, Any], expected: str
) -> None:
    message = _load_error(tmp_path, _doc(_stdio(**override)))
    assert "listing #0" in message
    assert expected in message


def test_missing_required_field(tmp_path: Path) -> None:
    entry = _stdio()
    del entry["publisher"]
    message = _load_error(tmp_path, _doc(entry))
    assert "listing #0 (id 'example'): publisher: missing required field" in message


def test_entry_without_id_is_named_by_index(tmp_path: Path) -> None:
    entry = _stdio()
    del entry["id"]
    message = _load_error(tmp_path, _doc(_remote(), entry))
    assert "listing #1: id: missing required field" in message


def test_entry_that_is_not_an_object(tmp_path: Path) -> None:
    message = _load_error(tmp_path, _doc(_stdio(), "filesystem"))  # type: ignore[arg-type]
    assert "listing #1: Expected `object`, got `str`" in message


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ([], "Expected `object`, got `array`"),
        ({"listings": []}, "version: missing required field"),
        ({"version": 2, "listings": []}, "version: Invalid enum value 2"),
        ({"version": 1, "listings": {}}, "listings: Expected `array`, got `object`"),
        ({"version": 1, "listings": [], "extra": 1}, "extra: unknown field"),
    ],
)
def test_top_level_errors(tmp_path: Path, doc: Any, expected: str) -> None:
    assert expected in _load_error(tmp_path, doc)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(CatalogError, match=r"absent\.json: cannot read"):
        load_catalog(path)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_bytes(b'{"version": 1, "listings": ["\xff"]}')
    with pytest.raises(CatalogError, match="not UTF-8"):
        load_catalog(path)


def test_loading_does_not_mutate_or_share_state(tmp_path: Path) -> None:
    doc = _doc(_stdio(), _remote())
    original = copy.deepcopy(doc)
    path = _write(tmp_path, doc)
    first = load_catalog(path)
    _write(tmp_path, _doc(_stdio()))
    second = load_catalog(path)
    assert len(first) == 2 and len(second) == 1  # nothing cached between loads
    assert doc == original
