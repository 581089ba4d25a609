"""ADR-0008 end to end: owner A, admin C, member B, outsider D; the merged view changes at
once with every governance change — on one gateway, and on two replicas sharing Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.auth.claims import Claims
from gateway.config import Settings
from gateway.domain.enterprises import EnterpriseCreate
from gateway.domain.servers import ServerCreate, ServerPatch
from gateway.errors import Denied
from gateway.wiring import open_runtime
from tests.fixtures.gateway import AppFactory, Caller, caller, join

AUTO = {
    "name": "github",
    "transport": "streamable_http",
    "url": "https://api.githubcopilot.com/mcp/",
    "auto_enabled": True,
}
PLAIN = {"name": "sentry", "transport": "streamable_http", "url": "https://mcp.sentry.dev/mcp"}


def _view_ids(response_json: dict[str, list[dict[str, str]]]) -> dict[str, str]:
    return {s["id"]: s["source"] for s in response_json["items"]}


async def test_adr_0008_end_to_end(gateway_settings: Settings, start_gateway: AppFactory) -> None:
    """One gateway, on the memory store and on Redis."""
    gateway = await start_gateway(gateway_settings)
    await _adr_0008_scenario(gateway, gateway)


@pytest.mark.parametrize("store_mode", ["redis", "cluster"], indirect=True)
async def test_adr_0008_end_to_end_across_replicas(
    gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    """Two gateway instances sharing one Redis: every write goes through the first, every
    read through the second, so no per-process state can hide a stale view."""
    writer = await start_gateway(gateway_settings)
    reader = await start_gateway(gateway_settings)
    assert writer.app is not reader.app
    await _adr_0008_scenario(writer, reader)


async def _adr_0008_scenario(
    writer: AsyncTestClient[Litestar], reader: AsyncTestClient[Litestar]
) -> None:
    w = {u: caller(writer, u) for u in ("alice", "bob", "carol", "dave")}
    r = {u: caller(reader, u) for u in ("alice", "bob", "carol", "dave")}

    # Owner A creates the enterprise and invites its members, who accept.
    ent = (await w["alice"].post("/v1/enterprises", json={"name": "Acme"})).json()
    assert ent["kind"] == "organization" and ent["role"] == "owner"
    ent_id = ent["id"]
    for user, role in (("carol", "admin"), ("bob", "member")):
        await join(w["alice"], w[user], ent_id, role)

    # Admin C approves an auto-enabled and a plain server (enterprise_id implied: one ent).
    auto = await w["carol"].post("/v1/enterprise/mcp-servers", json=AUTO)
    assert auto.status_code == 201, auto.text
    auto_id = auto.json()["id"]
    assert auto_id.startswith("emcp_") and auto.json()["created_by"] == "carol"
    plain_id = (await w["carol"].post("/v1/enterprise/mcp-servers", json=PLAIN)).json()["id"]

    # B's merged view: the auto-enabled one, source enterprise; not the plain one.
    bob_view = _view_ids((await r["bob"].get("/v1/mcp-servers")).json())
    assert bob_view == {auto_id: "enterprise"}
    assert (await r["bob"].get(f"/v1/mcp-servers/{auto_id}")).status_code == 200
    assert (await r["bob"].get(f"/v1/mcp-servers/{plain_id}")).status_code == 404
    # ... while both are on the approved list members can read.
    listed = (await r["bob"].get("/v1/enterprise/mcp-servers")).json()["items"]
    assert {s["id"] for s in listed} == {auto_id, plain_id}

    # Outsider D sees neither, anywhere.
    assert (await r["dave"].get("/v1/mcp-servers")).json()["items"] == []
    for server_id in (auto_id, plain_id):
        for url in (f"/v1/mcp-servers/{server_id}", f"/v1/enterprise/mcp-servers/{server_id}"):
            assert (await r["dave"].get(url)).status_code == 404, url
    assert (
        await r["dave"].get(f"/v1/enterprise/mcp-servers?enterprise_id={ent_id}")
    ).status_code == 404

    # B can modify neither (403 with the policy's reason) nor create one.
    denied = await w["bob"].patch(f"/v1/mcp-servers/{auto_id}", json={"name": "mine"})
    assert denied.status_code == 403
    assert [x["code"] for x in denied.json()["reasons"]] == ["enterprise_managed"]
    assert denied.json()["decision_id"] == denied.headers["x-decision-id"]
    assert set(denied.json()) == {"status_code", "detail", "reasons", "decision_id"}
    assert (await w["bob"].delete(f"/v1/mcp-servers/{auto_id}")).status_code == 403
    for server_id in (auto_id, plain_id):
        url = f"/v1/enterprise/mcp-servers/{server_id}"
        for attempt in (w["bob"].patch(url, json={"name": "x"}), w["bob"].delete(url)):
            response = await attempt
            assert response.status_code == 403, response.text
            assert response.json()["reasons"][0]["code"] == "role_required"
    created = await w["bob"].post("/v1/enterprise/mcp-servers", json=PLAIN)
    assert created.status_code == 403
    assert (await r["bob"].get(f"/v1/mcp-servers/{auto_id}")).json()["name"] == "github"

    # Toggling auto_enabled changes B's next view at once, both ways. Taking a mandatory
    # server away is the owner's call; the admin may make one mandatory.
    admin_off = await w["carol"].patch(
        f"/v1/enterprise/mcp-servers/{auto_id}", json={"auto_enabled": False}
    )
    assert admin_off.status_code == 403
    assert admin_off.json()["reasons"][0]["code"] == "owner_required"
    off = await w["alice"].patch(
        f"/v1/enterprise/mcp-servers/{auto_id}", json={"auto_enabled": False}
    )
    assert off.status_code == 200 and off.json()["auto_enabled"] is False
    assert _view_ids((await r["bob"].get("/v1/mcp-servers")).json()) == {}
    await w["carol"].patch(f"/v1/enterprise/mcp-servers/{plain_id}", json={"auto_enabled": True})
    assert _view_ids((await r["bob"].get("/v1/mcp-servers")).json()) == {plain_id: "enterprise"}

    # Deleting the server changes it at once (a mandatory one: only the owner may).
    assert (await w["carol"].delete(f"/v1/enterprise/mcp-servers/{plain_id}")).status_code == 403
    assert (await w["alice"].delete(f"/v1/enterprise/mcp-servers/{plain_id}")).status_code == 204
    assert _view_ids((await r["bob"].get("/v1/mcp-servers")).json()) == {}

    # So does removing B from the enterprise.
    await w["alice"].patch(f"/v1/enterprise/mcp-servers/{auto_id}", json={"auto_enabled": True})
    assert _view_ids((await r["bob"].get("/v1/mcp-servers")).json()) == {auto_id: "enterprise"}
    removed = await w["carol"].delete(f"/v1/enterprises/{ent_id}/members/bob")
    assert removed.status_code == 204, removed.text
    assert _view_ids((await r["bob"].get("/v1/mcp-servers")).json()) == {}
    assert (await r["bob"].get(f"/v1/mcp-servers/{auto_id}")).status_code == 404
    # Inviting B back brings nothing back until B accepts.
    await w["carol"].put(f"/v1/enterprises/{ent_id}/members/bob", json={"role": "member"})
    assert _view_ids((await r["bob"].get("/v1/mcp-servers")).json()) == {}
    assert (await w["bob"].post(f"/v1/invitations/{ent_id}/accept")).status_code == 200
    assert _view_ids((await r["bob"].get("/v1/mcp-servers")).json()) == {auto_id: "enterprise"}


async def test_membership_rules(client_as: Callable[..., Caller]) -> None:
    alice, bob, carol = client_as("alice"), client_as("bob"), client_as("carol")
    erin = client_as("erin")
    ent_id = (await alice.post("/v1/enterprises", json={"name": "Acme"})).json()["id"]
    members = f"/v1/enterprises/{ent_id}/members"
    await join(alice, carol, ent_id, "admin")
    await join(alice, bob, ent_id, "member")

    # Only owners grant the owner role; admins manage the rest.
    grant = await carol.put(f"{members}/bob", json={"role": "owner"})
    assert grant.status_code == 403 and grant.json()["reasons"][0]["code"] == "owner_required"
    await join(carol, erin, ent_id, "member")
    # Members cannot manage members, but may leave.
    assert (await bob.delete(f"{members}/erin")).status_code == 403
    assert (await bob.put(f"{members}/bob", json={"role": "admin"})).status_code == 403
    # The last owner can be neither removed nor demoted.
    for attempt in (
        alice.delete(f"{members}/alice"),
        alice.put(f"{members}/alice", json={"role": "member"}),
    ):
        response = await attempt
        assert response.status_code == 403
        assert "last_owner" in {x["code"] for x in response.json()["reasons"]}
    # With a second owner, the first may step down.
    assert (await alice.put(f"{members}/carol", json={"role": "owner"})).status_code == 200
    assert (await alice.put(f"{members}/alice", json={"role": "admin"})).status_code == 200
    assert (await bob.delete(f"{members}/bob")).status_code == 204
    listed = (await carol.get(members)).json()["items"]
    assert listed == [
        {"user_id": "alice", "role": "admin", "status": "active"},
        {"user_id": "carol", "role": "owner", "status": "active"},
        {"user_id": "erin", "role": "member", "status": "active"},
    ]
    # Bad input names the field.
    bad = await carol.put(f"{members}/erin", json={"role": "emperor"})
    assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == "role"
    assert (await carol.put(f"{members}/a%20b", json={"role": "member"})).status_code == 400


async def test_enterprise_id_must_be_named_when_ambiguous(
    client_as: Callable[..., Caller],
) -> None:
    alice = client_as("alice")
    none = await alice.get("/v1/enterprise/mcp-servers")
    assert none.status_code == 422  # the document cannot say "required for some callers"
    assert [e["key"] for e in none.json()["extra"]] == ["enterprise_id"]
    first = (await alice.post("/v1/enterprises", json={"name": "One"})).json()["id"]
    assert (await alice.get("/v1/enterprise/mcp-servers")).status_code == 200
    await alice.post("/v1/enterprises", json={"name": "Two"})
    ambiguous = await alice.get("/v1/enterprise/mcp-servers")
    assert ambiguous.status_code == 422
    assert [e["key"] for e in ambiguous.json()["extra"]] == ["enterprise_id"]
    named = await alice.get(f"/v1/enterprise/mcp-servers?enterprise_id={first}")
    assert named.status_code == 200


async def test_personal_enterprise_exactly_once_under_a_race(
    client_as: Callable[..., Caller],
) -> None:
    gina = client_as("gina", email="gina@gmail.com")
    responses = await asyncio.gather(*(gina.get("/v1/mcp-servers") for _ in range(20)))
    assert {r.status_code for r in responses} == {200}
    enterprises = (await gina.get("/v1/enterprises")).json()["items"]
    assert len(enterprises) == 1
    assert enterprises[0]["kind"] == "personal" and enterprises[0]["role"] == "owner"
    members = (await gina.get(f"/v1/enterprises/{enterprises[0]['id']}/members")).json()
    assert members["items"] == [{"user_id": "gina", "role": "owner", "status": "active"}]
    # A personal enterprise takes no other members.
    put = await gina.put(
        f"/v1/enterprises/{enterprises[0]['id']}/members/bob", json={"role": "member"}
    )
    assert put.status_code == 403
    # A corporate address gets none.
    assert (await client_as("hal").get("/v1/enterprises")).json()["items"] == []


async def test_personal_enterprise_race_through_the_resolver(gateway_settings: Settings) -> None:
    """The HTTP test client serves one request at a time, so race the identity step itself:
    20 truly concurrent first requests of one personal-mail user."""
    runtime = await open_runtime(gateway_settings)
    try:
        claims = Claims(sub="ines", email="ines@gmail.com", exp=2_000_000_000)
        resolved = await asyncio.gather(
            *(runtime.services.authenticator.resolver.resolve(claims) for _ in range(20))
        )
        enterprise_ids = {ent for s in resolved for ent in s.memberships}
        assert len(enterprise_ids) == 1
        assert all(list(s.memberships) == list(enterprise_ids) for s in resolved)
        (ent_id,) = enterprise_ids
        members, _ = await runtime.stores.enterprises.members(ent_id)
        assert members == {"ines": "owner"}
    finally:
        await runtime.aclose()


async def test_a_404_never_tells_existing_from_missing(client_as: Callable[..., Caller]) -> None:
    alice = client_as("alice")
    gina = client_as("gina", email="gina@gmail.com")  # provisioned once: no decision per call
    await gina.get("/v1/enterprises")
    server_id = (await alice.post("/v1/mcp-servers", json=PLAIN)).json()["id"]
    ent_id = (await alice.post("/v1/enterprises", json={"name": "Acme"})).json()["id"]
    emcp_id = (
        await alice.post(f"/v1/enterprise/mcp-servers?enterprise_id={ent_id}", json=PLAIN)
    ).json()["id"]
    pairs = [
        (f"/v1/mcp-servers/{server_id}", "/v1/mcp-servers/mcp_0000000000000000"),
        (f"/v1/mcp-servers/{emcp_id}", "/v1/mcp-servers/emcp_0000000000000000"),
        (f"/v1/enterprise/mcp-servers/{emcp_id}", "/v1/enterprise/mcp-servers/emcp_000000000"),
        (f"/v1/enterprises/{ent_id}", "/v1/enterprises/ent_0000000000000000"),
    ]
    for existing, missing in pairs:
        seen, unseen = await gina.get(existing), await gina.get(missing)
        assert seen.status_code == unseen.status_code == 404
        # Both were decided (and logged): each carries its own decision id, nothing else.
        assert seen.headers["x-decision-id"] != unseen.headers["x-decision-id"]
        assert set(seen.headers) == set(unseen.headers)
        assert set(seen.json()) == set(unseen.json()) == {"status_code", "detail"}


async def test_a_member_change_is_decided_on_the_current_roles(
    gateway_settings: Settings,
) -> None:
    """Carol was an owner when she authenticated, then was demoted: her in-flight request
    to grant the owner role must be judged on the member list it would change."""
    runtime = await open_runtime(gateway_settings)
    try:
        service = runtime.services.enterprises
        alice = await runtime.services.authenticator.resolver.resolve(_claims("alice"))
        ent_id = (await service.create(alice, EnterpriseCreate(name="Acme"))).id
        alice = await runtime.services.authenticator.resolver.resolve(_claims("alice"))
        await service.put_member(alice, ent_id, "carol", "owner")
        await service.accept(
            await runtime.services.authenticator.resolver.resolve(_claims("carol")), ent_id
        )
        carol_then = await runtime.services.authenticator.resolver.resolve(_claims("carol"))
        await service.put_member(alice, ent_id, "carol", "member")
        with pytest.raises(Denied):
            await service.put_member(carol_then, ent_id, "mallory", "owner")
        members, _ = await runtime.stores.enterprises.members(ent_id)
        assert members == {"alice": "owner", "carol": "member"}
    finally:
        await runtime.aclose()


def _claims(user: str) -> Claims:
    return Claims(sub=user, email=f"{user}@example.com", exp=2_000_000_000)


async def test_concurrent_patches_of_one_server_all_apply(gateway_settings: Settings) -> None:
    """Twelve PATCHes of one server at once: each is read, decided and compare-and-set again
    when another landed first, so none is a 409 and the last one written is what is stored
    (a field-wise PATCH has no version for the client to repeat with)."""
    runtime = await open_runtime(gateway_settings)
    try:
        alice = await runtime.services.authenticator.resolver.resolve(_claims("alice"))
        servers = runtime.services.servers
        created = await servers.create(
            alice, ServerCreate(name="time", transport="stdio", command="uvx")
        )
        patches = [ServerPatch(description=f"patch {i}") for i in range(12)]
        done = await asyncio.gather(*(servers.update(alice, created.id, p) for p in patches))
        assert sorted(d.description for d in done) == sorted(f"patch {i}" for i in range(12))
        stored = await servers.get(alice, created.id)
        assert stored.description in {f"patch {i}" for i in range(12)}
    finally:
        await runtime.aclose()
