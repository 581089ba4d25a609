"""server.json from a listing or a server: a package runner's command becomes a package a
client runs exactly as listed, HTTP servers become remotes with their secret headers asked
for, text fits the published limits, and every bundled listing is a valid server.json."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import msgspec
import pytest
from jsonschema import Draft202012Validator

from gateway.marketplace.catalog import Listing, load_bundled_catalog
from gateway.marketplace.server_json import package, remote, server_detail, short, version_of

SCHEMA = Draft202012Validator(
    json.loads(
        (Path(__file__).parents[2] / "api" / "mcp_registry_spec" / "server.schema.json").read_text()
    )
)


def _command(command: str, args: list[str]) -> list[str]:
    """The command line a client builds from the package: runner, its arguments, the package,
    the package's arguments (what VS Code and the registry's own docs do)."""
    pkg = package(command, args, [])
    assert pkg is not None
    values = [a.value for a in (pkg.runtime_arguments or [])]
    rest = [a.value for a in (pkg.package_arguments or [])]
    return [pkg.runtime_hint, *values, pkg.identifier, *rest]


MEMORY = "@modelcontextprotocol/server-memory"
REDIS = ["--from", "redis-mcp-server@latest", "redis-mcp-server", "--url", "redis://"]
GITHUB = ["run", "-i", "--rm", "-e", "TOKEN", "ghcr.io/github/github-mcp-server"]


@pytest.mark.parametrize(
    ("command", "args", "registry", "identifier"),
    [
        ("npx", ["-y", MEMORY], "npm", MEMORY),
        ("npx", ["@playwright/mcp@latest"], "npm", "@playwright/mcp@latest"),
        ("uvx", ["mcp-server-git", "--repository", "/repo"], "pypi", "mcp-server-git"),
        ("uvx", REDIS, "pypi", "redis-mcp-server"),
        ("docker", GITHUB, "oci", "ghcr.io/github/github-mcp-server"),
    ],
)
def test_a_package_runner_becomes_a_package_run_exactly_as_listed(
    command: str, args: list[str], registry: str, identifier: str
) -> None:
    pkg = package(command, args, [])
    assert pkg is not None
    assert (pkg.registry_type, pkg.identifier, pkg.runtime_hint) == (registry, identifier, command)
    assert _command(command, args) == [command, *args]


@pytest.mark.parametrize(
    ("command", "args"),
    [("python", ["server.py"]), ("docker", ["compose", "up"]), ("npx", ["-y"]), (None, [])],
)
def test_other_commands_have_no_package_form(command: str | None, args: list[str]) -> None:
    assert package(command, args, []) is None


def test_secrets_are_asked_for_never_given() -> None:
    pkg = package("npx", ["-y", "srv"], ["API_KEY"])
    assert pkg is not None and pkg.environment_variables is not None
    (env,) = pkg.environment_variables
    assert (env.name, env.is_secret, env.is_required, env.value) == ("API_KEY", True, True, None)
    sent = remote("sse", "https://x.example/sse", {"X-Team": "a", "Authorization": "Bearer ${TOK}"})
    assert msgspec.to_builtins(sent) == {
        "type": "sse",
        "url": "https://x.example/sse",
        "headers": [
            {
                "name": "Authorization",
                "value": "Bearer {TOK}",
                "isRequired": True,
                "isSecret": True,
                "variables": {"TOK": {"isRequired": True, "isSecret": True}},
            },
            {"name": "X-Team", "value": "a"},
        ],
    }


def test_text_fits_the_published_limits() -> None:
    assert short("a  b\nc", 100) == "a b c"
    cut = short("word " * 40, 100)
    assert len(cut) <= 100 and cut.endswith("word…")
    assert short("x" * 150, 100) == "x" * 99 + "…"
    assert short("   ", 100) == "-"


def test_the_version_is_when_the_entry_last_changed() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert version_of(moment) == "0.20260102.30405"
    assert version_of(moment.astimezone(timezone(timedelta(hours=5)))) == "0.20260102.30405"
    assert version_of(moment + timedelta(seconds=1)) > version_of(moment)


@pytest.mark.parametrize("item", list(load_bundled_catalog()), ids=lambda item: item.id)
def test_every_bundled_listing_is_a_valid_server_json(item: Listing) -> None:
    detail = server_detail(
        name=f"io.github.mcp-policy-gateway.catalog/{item.id}",
        title=item.name,
        description=item.description,
        version="0.20260102.30405",
        transport=item.transport,
        command=item.command,
        args=list(item.args),
        url=item.url,
        headers={},
        env=list(item.env),
        website_url=item.homepage,
    )
    encoded = msgspec.to_builtins(detail)
    assert not [e.message for e in SCHEMA.iter_errors(encoded)]
    assert encoded.get("packages") or encoded.get("remotes"), "a catalog entry a client can run"
