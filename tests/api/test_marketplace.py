"""The marketplace over HTTP, on the memory stores and on Redis: `installed` follows the
caller's merged view, installs create personal servers, and enterprises that restrict
installs to their approved list are obeyed — as the policy decides, once per page."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.config import Settings
from gateway.marketplace.catalog import CatalogError, Listing, load_bundled_catalog
from tests.fixtures.gateway import JWT_SECRET, Caller, caller, decision_records, join, token_for

CATALOG = load_bundled_catalog()
LIST = "/v1/marketplace/servers"
LISTING_FIELDS = set(Listing.__struct_fields__)


def _url(listing_id: str) -> str:
    return f"{LIST}/{listing_id}"


def _install_url(listing_id: str) -> str:
    return f"{LIST}/{listing_id}/install"


async def _all(caller: Caller, query: str = "") -> dict[str, dict[str, Any]]:
    response = await caller.get(f"{LIST}?limit=500{query}")
    assert response.status_code == 200, response.text
    return {item["id"]: item for item in response.json()["items"]}


async def _installed(caller: Caller) -> set[str]:
    return {lid for lid, item in (await _all(caller)).items() if item["installed"]}


async def _enterprise(owner: Caller, name: str, members: dict[str, str]) -> str:
    created = await owner.post("/v1/enterprises", json={"name": name})
    assert created.status_code == 201, created.text
    ent_id: str = created.json()["id"]
    for user, role in members.items():
        await join(owner, caller(owner.client, user), ent_id, role)
    return ent_id


async def _approve(admin: Caller, ent_id: str, listing_id: str, *, auto: bool) -> str:
    listing = CATALOG.get(listing_id)
    assert listing is not None
    body: dict[str, Any] = {
        "name": listing.name,
        "transport": listing.transport,
        "marketplace_listing_id": listing_id,
        "auto_enabled": auto,
    }
    if listing.transport == "stdio":
        body |= {"command": listing.command, "args": list(listing.args)}
    else:
        body["url"] = listing.url
    created = await admin.post(f"/v1/enterprise/mcp-servers?enterprise_id={ent_id}", json=body)
    assert created.status_code == 201, created.text
    server_id: str = created.json()["id"]
    return server_id


async def _restrict(owner: Caller, ent_id: str, on: bool) -> None:
    patched = await owner.patch(
        f"/v1/enterprises/{ent_id}", json={"restrict_installs_to_approved": on}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["restrict_installs_to_approved"] is on


# --- installed ----------------------------------------------------------------------------


async def test_install_flips_installed_for_the_installer_only(
    client_as: Callable[..., Caller],
) -> None:
    alice, bob = client_as("alice"), client_as("bob")
    assert await _installed(alice) == set()

    installed = await alice.post(_install_url("time"))
    assert installed.status_code == 201, installed.text
    server = installed.json()
    assert server["id"].startswith("mcp_")
    assert installed.headers["location"] == f"/v1/mcp-servers/{server['id']}"
    listing = CATALOG.get("time")
    assert listing is not None
    assert server["source"] == "personal" and server["user_id"] == "alice"
    assert server["marketplace_listing_id"] == "time"
    assert (server["name"], server["transport"], server["command"], server["args"]) == (
        listing.name,
        listing.transport,
        listing.command,
        list(listing.args),
    )
    # It is an ordinary personal server in the merged view.
    view = (await alice.get("/v1/mcp-servers")).json()["items"]
    assert [s["id"] for s in view] == [server["id"]]

    assert await _installed(alice) == {"time"}
    assert (await alice.get(_url("time"))).json()["installed"] is True
    assert await _installed(bob) == set()
    assert (await bob.get(_url("time"))).json()["installed"] is False

    # Reinstalling is a conflict; removing the server makes it installable again.
    again = await alice.post(_install_url("time"))
    assert again.status_code == 409, again.text
    assert "already" in again.json()["detail"]
    assert len((await alice.get("/v1/mcp-servers")).json()["items"]) == 1
    assert (await alice.delete(f"/v1/mcp-servers/{server['id']}")).status_code == 204
    assert await _installed(alice) == set()
    assert (await alice.post(_install_url("time"))).status_code == 201


async def test_install_goes_through_the_personal_create_decision(
    client_as: Callable[..., Caller],
) -> None:
    alice = client_as("alice")
    before = len(await decision_records(alice.client))
    assert (await alice.post(_install_url("fetch"))).status_code == 201
    taken = (await decision_records(alice.client))[before:]
    actions = [r.action for r in taken if r.path == "gateway/authz/decision"]
    assert actions == ["marketplace.install", "mcp_server.create"]


async def test_enterprise_auto_enabled_listing_is_installed_for_members_only(
    client_as: Callable[..., Caller],
) -> None:
    alice, bob, dave = client_as("alice"), client_as("bob"), client_as("dave")
    ent_id = await _enterprise(alice, "Acme", {"bob": "member"})
    await _approve(alice, ent_id, "github", auto=True)
    await _approve(alice, ent_id, "sentry", auto=False)  # approved, not in anyone's view

    for member in (alice, bob):
        assert await _installed(member) == {"github"}
        assert (await member.get(_url("github"))).json()["installed"] is True
        conflict = await member.post(_install_url("github"))
        assert conflict.status_code == 409, conflict.text
        # Approved but not auto-enabled: not installed, and installable.
        assert (await member.get(_url("sentry"))).json()["installed"] is False
    assert await _installed(dave) == set()
    assert (await dave.post(_install_url("github"))).status_code == 201
    assert await _installed(dave) == {"github"}

    # Personal and enterprise sources add up.
    assert (await bob.post(_install_url("sentry"))).status_code == 201
    assert await _installed(bob) == {"github", "sentry"}
    assert await _installed(alice) == {"github"}


# --- restricted installs ------------------------------------------------------------------


async def test_restricted_enterprise_members_install_only_approved_listings(
    client_as: Callable[..., Caller],
) -> None:
    alice, bob, carol, dave = (client_as(u) for u in ("alice", "bob", "carol", "dave"))
    acme = await _enterprise(alice, "Acme", {"bob": "member"})
    other = await _enterprise(carol, "Other", {})
    await _approve(alice, acme, "sentry", auto=False)
    await _approve(alice, acme, "github", auto=True)
    await _approve(carol, other, "time", auto=False)

    # Off by default: every listing is allowed for everyone.
    for someone in (alice, bob, carol, dave):
        listings = await _all(someone)
        assert all(item["allowed"] and item["reason"] is None for item in listings.values())
    assert (await bob.post(_install_url("memory"))).status_code == 201

    await _restrict(alice, acme, True)
    await _restrict(carol, other, False)
    for member in (alice, bob):
        listings = await _all(member)
        allowed = {lid for lid, item in listings.items() if item["allowed"]}
        assert allowed == {"sentry", "github"}
        reason = listings["time"]["reason"]
        assert reason["code"] == "install_restricted"
        assert acme in reason["message"] and "time" in reason["message"]
        assert listings["sentry"]["reason"] is None

        detail = (await member.get(_url("time"))).json()
        assert detail["allowed"] is False and detail["reason"] == reason

        denied = await member.post(_install_url("time"))
        assert denied.status_code == 403, denied.text
        assert denied.json()["reasons"] == [reason]
        assert denied.json()["decision_id"] == denied.headers["x-decision-id"]
    assert await _installed(bob) == {"github", "memory"}
    assert (await bob.post(_install_url("sentry"))).status_code == 201
    assert (await bob.post(_install_url("sentry"))).status_code == 409
    # Installed before the restriction: kept (and still `installed`), but the policy's
    # answer comes before the conflict.
    assert (await bob.get(_url("memory"))).json()["installed"] is True
    assert (await bob.post(_install_url("memory"))).status_code == 403

    # Members of an unrestricted enterprise, and users of none, are unaffected.
    for someone in (carol, dave):
        listings = await _all(someone)
        assert all(item["allowed"] for item in listings.values())
        assert (await someone.post(_install_url("time"))).status_code == 201

    # Joining a restricted enterprise restricts carol too; lifting the restriction frees all.
    await join(alice, carol, acme, "member")
    assert (await carol.get(_url("fetch"))).json()["allowed"] is False
    await _restrict(alice, acme, False)
    for someone in (alice, bob, carol):
        assert (await someone.get(_url("fetch"))).json()["allowed"] is True
    assert (await bob.post(_install_url("fetch"))).status_code == 201


async def test_every_restricting_enterprise_must_approve(
    client_as: Callable[..., Caller],
) -> None:
    alice, bob = client_as("alice"), client_as("bob")
    first = await _enterprise(alice, "First", {"bob": "member"})
    second = await _enterprise(alice, "Second", {"bob": "member"})
    await _approve(alice, first, "slack", auto=False)
    await _approve(alice, first, "notion", auto=False)
    await _approve(alice, second, "notion", auto=False)
    await _restrict(alice, first, True)
    await _restrict(alice, second, True)

    listings = await _all(bob)
    assert {lid for lid, item in listings.items() if item["allowed"]} == {"notion"}
    message = listings["slack"]["reason"]["message"]
    assert second in message and first not in message
    assert (await bob.post(_install_url("slack"))).status_code == 403
    assert (await bob.post(_install_url("notion"))).status_code == 201


# --- one decision per page ----------------------------------------------------------------


async def test_a_page_is_decided_in_one_policy_decision(
    client_as: Callable[..., Caller],
) -> None:
    alice, bob = client_as("alice"), client_as("bob")
    acme = await _enterprise(alice, "Acme", {"bob": "member"})
    await _approve(alice, acme, "sentry", auto=True)
    await _restrict(alice, acme, True)
    before = len(await decision_records(bob.client))

    response = await bob.get(f"{LIST}?limit=500")
    assert response.status_code == 200
    taken = (await decision_records(bob.client))[before:]
    batch = [r for r in taken if r.path == "gateway/marketplace/listings"]
    assert len(batch) == 1
    record = batch[0]
    assert response.headers["x-decision-id"] == record.decision_id
    assert record.subject_id == "bob"
    # Each item is an install's resource and proposed server; the answer is each one's
    # marketplace.install decision.
    items = {item["resource"]["id"]: item for item in record.input["listings"]}
    assert set(items) == {item.id for item in CATALOG}
    assert items["sentry"]["resource"]["approved_by"] == [acme]
    assert items["sentry"]["proposed"]["listing"]["approved_by"] == [acme]
    assert items["sentry"]["proposed"]["user_id"] == "bob"
    decisions = record.result["decisions"]
    assert {lid for lid, d in decisions.items() if not d["allow"]} == set(items) - {"sentry"}


# --- lookup, search, paging ---------------------------------------------------------------


async def test_a_listing_has_the_catalog_fields_and_the_callers_flags(
    client_as: Callable[..., Caller],
) -> None:
    response = await client_as("alice").get(_url("github"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == LISTING_FIELDS | {"installed", "allowed", "reason"}
    listing = CATALOG.get("github")
    assert listing is not None
    assert body["name"] == listing.name and body["categories"] == list(listing.categories)
    assert (body["installed"], body["allowed"], body["reason"]) == (False, True, None)


async def test_unknown_listing_is_not_found(client_as: Callable[..., Caller]) -> None:
    alice = client_as("alice")
    for response in (
        await alice.get(_url("no-such-listing")),
        await alice.post(_install_url("no-such-listing")),
    ):
        assert response.status_code == 404, response.text
    assert await _installed(alice) == set()
    malformed = await alice.get(_url("Not_A_Listing!"))
    assert malformed.status_code == 400


@pytest.mark.parametrize(
    ("query", "q", "category"),
    [
        ("&q=GitHub", "GitHub", None),
        ("&q=browser", "browser", None),
        ("&category=data", None, "data"),
        ("&q=server&category=reference", "server", "reference"),
        ("&q=%20", " ", None),
        ("&q=zzz-nothing-matches", "zzz-nothing-matches", None),
    ],
)
async def test_search_and_category_filters(
    client_as: Callable[..., Caller], query: str, q: str | None, category: str | None
) -> None:
    found = await _all(client_as("alice"), query)
    expected = [item.id for item in CATALOG.search(q, category)]
    assert list(found) == expected
    if q and q.strip():
        needle = q.strip().casefold()
        assert all(
            needle in (item["name"] + item["description"]).casefold() for item in found.values()
        )
    if category:
        assert expected and all(category in item["categories"] for item in found.values())


async def test_unknown_category_is_a_bad_request(client_as: Callable[..., Caller]) -> None:
    response = await client_as("alice").get(f"{LIST}?category=games")
    assert response.status_code == 400
    assert "category" in response.text


async def test_pagination_walks_every_listing_once(client_as: Callable[..., Caller]) -> None:
    alice = client_as("alice")
    assert (await alice.post(_install_url("time"))).status_code == 201
    seen: list[str] = []
    flags: dict[str, bool] = {}
    url = f"{LIST}?limit=7"
    while True:
        response = await alice.get(url)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 7
        seen += [item["id"] for item in page["items"]]
        flags |= {item["id"]: item["installed"] for item in page["items"]}
        if page["next_cursor"] is None:
            break
        url = f"{LIST}?limit=7&cursor={page['next_cursor']}"
    assert seen == [item.id for item in CATALOG]
    assert {lid for lid, installed in flags.items() if installed} == {"time"}

    filtered = (await alice.get(f"{LIST}?limit=2&category=data")).json()
    assert len(filtered["items"]) == 2 and filtered["next_cursor"]
    rest = await alice.get(f"{LIST}?limit=2&category=data&cursor={filtered['next_cursor']}")
    ids = [i["id"] for i in filtered["items"] + rest.json()["items"]]
    assert ids == [item.id for item in CATALOG.search(None, "data")][: len(ids)]
    assert (await alice.get(f"{LIST}?cursor=!!")).status_code == 400


# --- startup --------------------------------------------------------------------------------


async def test_a_broken_catalog_stops_startup_naming_entry_and_field(tmp_path: Path) -> None:
    bad = {
        "version": 1,
        "listings": [
            {
                "id": "broken",
                "name": "Broken",
                "description": "A listing with a plain-http URL.",
                "publisher": "Example",
                "homepage": "https://example.com",
                "categories": ["web"],
                "transport": "streamable_http",
                "url": "http://insecure.example.com/mcp",
            }
        ],
    }
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(bad))
    app: Litestar = create_app(Settings(jwt_secret=JWT_SECRET, marketplace_catalog=str(path)))
    # The test client's task group wraps what the lifespan raised.
    with pytest.raises(BaseExceptionGroup) as caught:
        async with AsyncTestClient(app):
            pass
    matched, _ = caught.value.split(CatalogError)
    assert matched is not None
    (error,) = _leaves(matched)
    message = str(error)
    assert str(path) in message and "listing #0 (id 'broken')" in message and "url" in message


async def test_a_custom_catalog_is_served(tmp_path: Path) -> None:
    listing = {
        "id": "acme-tools",
        "name": "Acme tools",
        "description": "Internal tools.",
        "publisher": "Acme",
        "homepage": "https://acme.example.com",
        "categories": ["utilities"],
        "transport": "stdio",
        "command": "uvx",
        "args": ["acme-tools"],
    }
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"version": 1, "listings": [listing]}))
    app = create_app(Settings(jwt_secret=JWT_SECRET, marketplace_catalog=str(path)))
    async with AsyncTestClient(app) as client:
        alice = Caller(client, token_for("alice"))
        assert list(await _all(alice)) == ["acme-tools"]
        assert (await alice.get(_url("github"))).status_code == 404


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    return [
        leaf
        for exc in group.exceptions
        for leaf in (_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    ]


# --- restricted installs govern POST /v1/mcp-servers and PATCH too ---------------------------


async def test_a_restricted_member_creates_only_approved_listings_exactly_as_listed(
    client_as: Callable[..., Caller],
) -> None:
    alice, bob = client_as("alice"), client_as("bob")
    acme = await _enterprise(alice, "Acme", {"bob": "member"})
    await _approve(alice, acme, "time", auto=False)
    custom = {"name": "mine", "transport": "stdio", "command": "uvx", "args": ["my-server"]}
    before = await bob.post("/v1/mcp-servers", json=custom)
    assert before.status_code == 201  # before the restriction
    await _restrict(alice, acme, True)

    refused = await bob.post("/v1/mcp-servers", json=custom)
    assert refused.status_code == 403, refused.text
    (reason,) = refused.json()["reasons"]
    assert reason["code"] == "install_restricted" and "custom servers" in reason["message"]

    listing = CATALOG.get("time")
    assert listing is not None
    as_listed = {
        "name": "my time",
        "transport": listing.transport,
        "command": listing.command,
        "args": list(listing.args),
        "marketplace_listing_id": "time",
    }
    created = await bob.post("/v1/mcp-servers", json=as_listed)
    assert created.status_code == 201, created.text
    # The approved listing's id on another command is not the approved listing.
    tampered = await bob.post("/v1/mcp-servers", json={**as_listed, "command": "bash"})
    assert tampered.status_code == 403
    assert tampered.json()["reasons"][0]["code"] == "install_restricted"
    unapproved = await bob.post(
        "/v1/mcp-servers", json={**as_listed, "marketplace_listing_id": "fetch"}
    )
    assert unapproved.status_code == 403

    # A PATCH may rename or disable, but not change how a server is launched.
    url = f"/v1/mcp-servers/{created.json()['id']}"
    assert (await bob.patch(url, json={"name": "renamed", "enabled": False})).status_code == 200
    assert (await bob.patch(url, json={"args": ["-c", "evil"]})).status_code == 403
    old = f"/v1/mcp-servers/{before.json()['id']}"
    assert (await bob.patch(old, json={"enabled": False})).status_code == 200
    assert (await bob.patch(old, json={"command": "npx"})).status_code == 403
    # Unrestricted users are untouched.
    assert (await client_as("dave").post("/v1/mcp-servers", json=custom)).status_code == 201
