"""The MCP Registry API (`/v0.1`) over HTTP, held to the registry project's own contract: every
answer is validated against its OpenAPI document and every server.json against its published
JSON schema (both vendored in tests/api/mcp_registry_spec/). The three audiences the shipped
policy tells apart — anonymous, a signed-in user, a member of an enterprise that restricts
installs — each get exactly what `registry.read` allows, on both engines."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import hypothesis.strategies as st
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from jsonschema import Draft202012Validator, FormatChecker
from litestar import Litestar
from litestar.testing import AsyncTestClient
from schemathesis.checks import not_a_server_error
from schemathesis.openapi.checks import JsonSchemaError
from schemathesis.python.asgi import get_client, shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from gateway.app import create_app
from gateway.config import Settings
from gateway.marketplace.catalog import load_bundled_catalog
from tests.fixtures.gateway import JWT_SECRET, Caller, decision_records, join, token_for

SPEC_DIR = Path(__file__).parent / "mcp_registry_spec"
REGISTRY = schemathesis.openapi.from_path(SPEC_DIR / "openapi.yaml")
SERVER_JSON = Draft202012Validator(
    json.loads((SPEC_DIR / "server.schema.json").read_text()), format_checker=FormatChecker()
)
CATALOG = load_bundled_catalog()
NS = "io.github.mcp-policy-gateway"
GATEWAY = f"{NS}/gateway"
LIST = "/v0.1/servers"
OPERATIONS = {
    "list": REGISTRY["/v0.1/servers"]["GET"],
    "versions": REGISTRY["/v0.1/servers/{serverName}/versions"]["GET"],
    "version": REGISTRY["/v0.1/servers/{serverName}/versions/{version}"]["GET"],
}
EVERY_LISTING = {f"{NS}.catalog/{item.id}" for item in CATALOG}


def _conforms(operation: str, response: httpx.Response) -> dict[str, Any]:
    """`response` as the registry's document describes it (raises if not), each server.json
    valid under the published schema; the body."""
    OPERATIONS[operation].validate_response(response)
    body: dict[str, Any] = response.json()
    if response.status_code == 200:
        entries = body["servers"] if operation != "version" else [body]
        for entry in entries:
            errors = sorted(SERVER_JSON.iter_errors(entry["server"]), key=str)
            assert not errors, (entry["server"]["name"], [e.message for e in errors])
    return body


def _path(name: str, version: str | None = None) -> str:
    base = f"{LIST}/{quote(name, safe='')}/versions"
    return base if version is None else f"{base}/{quote(version, safe='')}"


async def _everything(who: Caller, page: int = 7, query: str = "") -> dict[str, dict[str, Any]]:
    """Every entry `who` sees, page by page (`metadata.nextCursor`), each page validated."""
    seen: dict[str, dict[str, Any]] = {}
    cursor = ""
    while True:
        answer = await who.get(f"{LIST}?limit={page}{query}{cursor}")
        assert answer.status_code == 200, answer.text
        body = _conforms("list", answer)
        assert body["metadata"]["count"] == len(body["servers"]) <= page
        for entry in body["servers"]:
            assert entry["server"]["name"] not in seen, "a name served twice"
            seen[entry["server"]["name"]] = entry
        next_cursor = body["metadata"].get("nextCursor")
        if not next_cursor:
            return seen
        cursor = f"&cursor={next_cursor}"


def _meta(entry: dict[str, Any]) -> dict[str, Any]:
    gateway_meta: dict[str, Any] = entry["_meta"][f"{NS}/gateway"]
    return gateway_meta


async def _world(owner: Caller, member: Caller, user: Caller) -> dict[str, str]:
    """Acme restricts installs and approved `time` (auto-enabled, so in its members' view) and
    `fetch` (not auto-enabled); `member` belongs to it. `user` installed `memory` and made a
    server of their own, over HTTP with a secret header."""
    ent = (await owner.post("/v1/enterprises", json={"name": "Acme"})).json()["id"]
    await join(owner, member, ent, "member")
    approved = {}
    for listing_id, auto in (("time", True), ("fetch", False)):
        listing = CATALOG.get(listing_id)
        assert listing is not None
        created = await owner.post(
            f"/v1/enterprise/mcp-servers?enterprise_id={ent}",
            json={
                "name": listing.name,
                "transport": "stdio",
                "command": listing.command,
                "args": list(listing.args),
                "marketplace_listing_id": listing_id,
                "auto_enabled": auto,
            },
        )
        assert created.status_code == 201, created.text
        approved[listing_id] = created.json()["id"]
    restricted = await owner.patch(
        f"/v1/enterprises/{ent}", json={"restrict_installs_to_approved": True}
    )
    assert restricted.status_code == 200, restricted.text
    installed = await user.post("/v1/marketplace/servers/memory/install")
    assert installed.status_code == 201, installed.text
    custom = await user.post(
        "/v1/mcp-servers",
        json={
            "name": "Team tools",
            "transport": "streamable_http",
            "url": "https://tools.example.com/mcp",
            "headers": {"Authorization": "Bearer ${TOOLS_TOKEN}"},
            "env": ["TOOLS_TOKEN"],
        },
    )
    assert custom.status_code == 201, custom.text
    return {
        "enterprise": ent,
        "time": approved["time"],
        "fetch": approved["fetch"],
        "memory": installed.json()["id"],
        "custom": custom.json()["id"],
    }


async def test_the_three_audiences_see_what_the_policy_allows(
    client_as: Callable[..., Caller], anonymous: Caller, gateway: AsyncTestClient[Litestar]
) -> None:
    owner, bob, carol = client_as("alice"), client_as("bob"), client_as("carol")
    world = await _world(owner, bob, carol)

    # Anonymous: the public catalog, nothing else (no view, not even the gateway's /mcp).
    public = await _everything(anonymous)
    assert set(public) == EVERY_LISTING
    assert not any(_meta(entry)["installed"] for entry in public.values())

    # A plain user: the catalog, their own servers and the gateway.
    mine = {f"{NS}.personal/{world['memory']}", f"{NS}.personal/{world['custom']}", GATEWAY}
    seen = await _everything(carol)
    assert set(seen) == EVERY_LISTING | mine
    assert {n for n, e in seen.items() if _meta(e)["installed"]} == mine | {f"{NS}.catalog/memory"}
    assert _meta(seen[f"{NS}.catalog/time"])["install_allowed"] is True
    custom = seen[f"{NS}.personal/{world['custom']}"]["server"]
    assert custom["remotes"] == [
        {
            "type": "streamable-http",
            "url": "https://tools.example.com/mcp",
            "headers": [
                {
                    "name": "Authorization",
                    "value": "Bearer {TOOLS_TOKEN}",
                    "isRequired": True,
                    "isSecret": True,
                    "variables": {"TOOLS_TOKEN": {"isRequired": True, "isSecret": True}},
                }
            ],
        }
    ]
    assert seen[GATEWAY]["server"]["remotes"] == [
        {"type": "streamable-http", "url": "http://127.0.0.1:8080/mcp"}
    ]

    # A member of a restricting enterprise: only the approved listings, and their view.
    restricted = await _everything(bob)
    approved = {f"{NS}.catalog/time", f"{NS}.catalog/fetch"}
    assert set(restricted) == approved | {f"{NS}.enterprise/{world['time']}", GATEWAY}
    enterprise_entry = _meta(restricted[f"{NS}.enterprise/{world['time']}"])
    assert enterprise_entry["source"] == "enterprise"
    assert enterprise_entry["enterprise_id"] == world["enterprise"]
    assert _meta(restricted[f"{NS}.catalog/time"])["installed"] is True  # auto-enabled
    assert _meta(restricted[f"{NS}.catalog/fetch"])["installed"] is False

    # The same answers one by one: what a caller does not see is a 404, never a 403.
    hidden = f"{NS}.catalog/github"
    for who, name, status in [
        (anonymous, hidden, 200),
        (carol, hidden, 200),
        (bob, hidden, 404),
        (bob, f"{NS}.catalog/fetch", 200),
        (anonymous, GATEWAY, 404),
        (carol, GATEWAY, 200),
        (bob, f"{NS}.personal/{world['memory']}", 404),  # carol's
        (carol, f"{NS}.personal/{world['memory']}", 200),
        (anonymous, f"{NS}.catalog/no-such-listing", 404),
    ]:
        for path, operation in ((_path(name, "latest"), "version"), (_path(name), "versions")):
            answer = await who.get(path)
            assert answer.status_code == status, (who.user, path, answer.text)
            body = _conforms(operation, answer)
            if status == 200:
                entry = body if operation == "version" else body["servers"][0]
                assert entry["server"]["name"] == name

    # Each entry shown was decided by `registry.read` and logged, anonymous callers' too.
    records = [r for r in await decision_records(gateway) if r.action == "registry.read"]
    assert {r.subject_id for r in records} >= {"anonymous", "bob", "carol"}
    denied = {r.resource_id for r in records if r.subject_id == "bob" and r.allowed is False}
    assert "github" in denied


async def test_a_listing_carries_the_install_decision_and_its_reasons(
    client_as: Callable[..., Caller], anonymous: Caller
) -> None:
    """`_meta` says whether the policy would let the caller install a listing, with the
    policy's reasons when not: the decision the marketplace page shows."""
    carol = client_as("carol")
    mine = _meta((await _everything(carol))[f"{NS}.catalog/time"])
    assert (mine["install_allowed"], mine["reasons"]) == (True, [])
    theirs = _meta((await _everything(anonymous))[f"{NS}.catalog/time"])
    assert theirs["install_allowed"] is False
    assert [reason["code"] for reason in theirs["reasons"]] == ["not_permitted"]
    assert "marketplace.install" in theirs["reasons"][0]["message"]


async def test_the_query_parameters_as_the_registry_defines_them(
    client_as: Callable[..., Caller], anonymous: Caller
) -> None:
    carol = client_as("carol")
    everything = await _everything(carol, page=100)
    # search: a substring of the name, title or description, any case
    found = await _everything(carol, query="&search=SEQUENTIAL")
    assert set(found) == {f"{NS}.catalog/sequential-thinking"}
    # version: `latest` is every entry (one version each); an exact version matches exactly
    assert set(await _everything(carol, query="&version=latest")) == set(everything)
    version = everything[f"{NS}.catalog/time"]["server"]["version"]
    exact = await _everything(carol, query=f"&version={quote(version)}")
    assert set(exact) == EVERY_LISTING  # the catalog's entries share the catalog's version
    assert await _everything(carol, query="&version=9.9.9") == {}
    # updated_since: nothing changed after the far future; everything since the epoch
    assert await _everything(carol, query="&updated_since=2999-01-01T00:00:00Z") == {}
    since = await _everything(carol, query="&updated_since=1970-01-01T00:00:00Z")
    assert set(since) == set(everything)
    # a version of an entry: `latest`, its own version, or 404
    name = f"{NS}.catalog/time"
    assert (await anonymous.get(_path(name, version))).status_code == 200
    missing = await anonymous.get(_path(name, "1.0.0"))
    assert missing.status_code == 404
    _conforms("version", missing)
    # an unencoded slash reaches the same entry
    plain = await anonymous.get(f"{LIST}/{name}/versions/latest")
    assert plain.status_code == 200
    assert _conforms("version", plain)["server"]["name"] == name


@pytest.mark.parametrize(
    ("query", "field", "status"),
    [
        ("limit=0", "limit", 400),
        ("limit=101", "limit", 400),
        ("limit=ten", "limit", 400),
        ("updated_since=yesterday", "updated_since", 400),
        ("updated_since=null", "updated_since", 400),
        ("updated_since=2026-13-01T00:00:00Z", "updated_since", 422),
        ("search=" + "x" * 201, "search", 400),
        ("version=" + "9" * 256, "version", 400),
        ("cursor=" + "%2F", "cursor", 400),
        ("cursor=bm90LWEtbmFtZQ", "cursor", 422),  # base64 of a string no entry is named
    ],
)
@pytest.mark.parametrize("store_mode", ["memory"], indirect=True)
async def test_a_bad_parameter_is_refused_naming_it(
    anonymous: Caller, query: str, field: str, status: int
) -> None:
    answer = await anonymous.get(f"{LIST}?{query}")
    assert answer.status_code == status, answer.text
    assert [item["key"] for item in answer.json()["extra"]] == [field]
    assert field in answer.json()["detail"]


@pytest.mark.parametrize("store_mode", ["memory"], indirect=True)
async def test_a_bad_token_is_a_401_not_an_anonymous_caller(
    gateway: AsyncTestClient[Litestar],
) -> None:
    answer = await gateway.get(LIST, headers={"Authorization": "Bearer not-a-token"})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("store_mode", ["memory"], indirect=True)
async def test_cors_is_open_for_reads_without_credentials(
    gateway: AsyncTestClient[Litestar],
) -> None:
    origin = {"Origin": "https://gallery.example"}
    answer = await gateway.get(LIST, headers=origin)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in answer.headers
    refused = await gateway.get(f"{LIST}?limit=0", headers=origin)  # errors carry it too
    assert refused.headers["access-control-allow-origin"] == "*"
    preflight = await gateway.options(
        LIST,
        headers={
            **origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"]
    # /v1 stays closed to other origins: the registry's CORS is the registry's only
    closed = await gateway.get("/v1/mcp-servers", headers=origin)
    assert "access-control-allow-origin" not in closed.headers


# --- the registry's own document, fuzzed: every answer to a generated request conforms ----

_FUZZED_APP = create_app(Settings(jwt_secret=JWT_SECRET, rate_limit_requests=1_000_000))
FUZZED = schemathesis.openapi.from_path(SPEC_DIR / "openapi.yaml").include(method="GET")
FUZZED.app = _FUZZED_APP
FUZZED.config.generation.update(max_examples=25, deterministic=True, modes=["positive"])
_NAMES = sorted(EVERY_LISTING | {GATEWAY})


@FUZZED.hook
def flatmap_path_parameters(ctx: Any, parameters: dict[str, Any] | None) -> Any:
    """Half the time a name the registry has, so requests reach past the 404."""
    if not parameters or "serverName" not in parameters:
        return st.just(parameters)
    return st.sampled_from(_NAMES).flatmap(
        lambda name: st.sampled_from([parameters, {**parameters, "serverName": name}])
    )


@pytest.fixture(scope="module")
def _fuzzed_app_stops() -> Any:
    yield
    shutdown_lifespans()


@pytest.mark.engine_independent
@pytest.mark.usefixtures("_fuzzed_app_stops")
@FUZZED.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_fuzzed_answers_conform_to_the_registry_document(case: schemathesis.Case) -> None:
    for headers in ({}, {"Authorization": f"Bearer {token_for('fuzzer')}"}):
        response = case.call(headers=headers)
        case.validate_response(
            response,
            checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
        )
        if response.status_code == 200:
            body = response.json()
            for entry in body.get("servers", [body]):
                assert not list(SERVER_JSON.iter_errors(entry["server"]))


def test_the_vendored_documents_are_the_registry_v0_1_contract() -> None:
    """What the tests above lean on is really in the vendored files (a wrong copy fails)."""
    doc = yaml.safe_load((SPEC_DIR / "openapi.yaml").read_text())
    assert {"/v0.1/servers", "/v0.1/servers/{serverName}/versions"} <= set(doc["paths"])
    assert "/v0.1/servers/{serverName}/versions/{version}" in doc["paths"]
    listed = doc["components"]["schemas"]["ServerList"]["properties"]
    assert set(listed["metadata"]["properties"]) == {"nextCursor", "count"}
    schema = json.loads((SPEC_DIR / "server.schema.json").read_text())
    detail = schema["definitions"]["ServerDetail"]
    assert detail["required"] == ["name", "description", "version"]
    assert detail["properties"]["name"]["pattern"] == "^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$"
    with get_client(_FUZZED_APP) as client:  # and the gateway's names match that pattern
        names = [e["server"]["name"] for e in client.get(f"{LIST}?limit=100").json()["servers"]]
    assert names and all(
        SERVER_JSON.is_valid({"name": n, "description": "d", "version": "1"}) for n in names
    )


def _answer(body: dict[str, Any]) -> httpx.Response:
    response = httpx.Response(200, json=body, request=httpx.Request("GET", f"http://t{LIST}"))
    response.elapsed = timedelta(0)  # schemathesis reads it; only a sent request has one
    return response


def test_the_contract_checks_bite() -> None:
    """What these tests rely on fails on an answer the registry's contract does not allow."""
    good = {"server": {"name": "a.b/c", "description": "d", "version": "1.0.0"}}
    assert _conforms("list", _answer({"servers": [good], "metadata": {"count": 1}}))
    with pytest.raises(JsonSchemaError):  # nextCursor is a string or absent, never null
        _conforms("list", _answer({"servers": [good], "metadata": {"nextCursor": None}}))
    with pytest.raises(JsonSchemaError):  # the official block allows its own fields only
        official = {"io.modelcontextprotocol.registry/official": {"installed": True}}
        _conforms("list", _answer({"servers": [{**good, "_meta": official}]}))
    with pytest.raises(JsonSchemaError):  # the document: a description of 100 at most
        too_long = {"server": {**good["server"], "description": "d" * 101}}
        _conforms("list", _answer({"servers": [too_long]}))
    # The published server.json schema: a remote's URL is http(s) (the document says less).
    ftp = {"server": {**good["server"], "remotes": [{"type": "sse", "url": "ftp://x/"}]}}
    with pytest.raises(AssertionError, match=r"a\.b/c"):
        _conforms("list", _answer({"servers": [ftp]}))
