"""Nobody joins an enterprise without accepting its invitation: before acceptance the invitee
has no role, sees none of its servers and not the enterprise itself; they can decline, owners
and admins can revoke, and a new invitation can follow either."""

from __future__ import annotations

from collections.abc import Callable

from tests.fixtures.gateway import Caller, decision_records

AUTO = {
    "name": "github",
    "transport": "streamable_http",
    "url": "https://api.githubcopilot.com/mcp/",
    "auto_enabled": True,
}


async def _acme(owner: Caller) -> tuple[str, str]:
    """An enterprise with one auto-enabled (mandatory) server: its id and the server's."""
    ent = (await owner.post("/v1/enterprises", json={"name": "Acme"})).json()["id"]
    server = await owner.post(f"/v1/enterprise/mcp-servers?enterprise_id={ent}", json=AUTO)
    assert server.status_code == 201, server.text
    return ent, server.json()["id"]


async def _sees_nothing_of(bob: Caller, ent: str, server: str) -> None:
    assert (await bob.get("/v1/mcp-servers")).json()["items"] == []
    assert (await bob.get(f"/v1/mcp-servers/{server}")).status_code == 404
    assert (await bob.get("/v1/enterprises")).json()["items"] == []
    assert (await bob.get(f"/v1/enterprises/{ent}")).status_code == 404
    assert (await bob.get(f"/v1/enterprises/{ent}/members")).status_code == 404
    listed = await bob.get(f"/v1/enterprise/mcp-servers?enterprise_id={ent}")
    assert listed.status_code == 404
    assert (await bob.get(f"/v1/enterprise/mcp-servers/{server}")).status_code == 404
    assert (await bob.get(f"/v1/mcp-servers/{server}/launch")).status_code == 404


async def test_an_invitation_grants_nothing_until_accepted(
    client_as: Callable[..., Caller],
) -> None:
    alice, bob = client_as("alice"), client_as("bob")
    ent, server = await _acme(alice)

    invited = await alice.put(f"/v1/enterprises/{ent}/members/bob", json={"role": "admin"})
    assert invited.status_code == 202, invited.text
    assert invited.json() == {"user_id": "bob", "role": "admin", "status": "invited"}
    await _sees_nothing_of(bob, ent, server)
    # No role either: an invited admin cannot act as one.
    created = await bob.post(f"/v1/enterprise/mcp-servers?enterprise_id={ent}", json=AUTO)
    assert created.status_code == 404
    assert (
        await bob.put(f"/v1/enterprises/{ent}/members/mallory", json={"role": "member"})
    ).status_code == 404

    pending = (await bob.get("/v1/invitations")).json()["items"]
    assert [
        (p["enterprise_id"], p["enterprise_name"], p["role"], p["invited_by"]) for p in pending
    ] == [(ent, "Acme", "admin", "alice")]
    # Only the invitee has it.
    assert (await alice.get("/v1/invitations")).json()["items"] == []
    assert (await client_as("mallory").post(f"/v1/invitations/{ent}/accept")).status_code == 404

    accepted = await bob.post(f"/v1/invitations/{ent}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"user_id": "bob", "role": "admin", "status": "active"}
    assert [s["id"] for s in (await bob.get("/v1/mcp-servers")).json()["items"]] == [server]
    assert (await bob.get(f"/v1/enterprises/{ent}")).json()["role"] == "admin"
    assert (await bob.get("/v1/invitations")).json()["items"] == []
    # Accepting twice finds nothing to accept.
    assert (await bob.post(f"/v1/invitations/{ent}/accept")).status_code == 404


async def test_owners_and_admins_see_invitees_members_do_not(
    client_as: Callable[..., Caller],
) -> None:
    alice, carol = client_as("alice"), client_as("carol")
    ent, _ = await _acme(alice)
    for user in ("bob", "carol"):
        await alice.put(f"/v1/enterprises/{ent}/members/{user}", json={"role": "member"})
    assert (await carol.post(f"/v1/invitations/{ent}/accept")).status_code == 200
    await alice.put(f"/v1/enterprises/{ent}/members/dave", json={"role": "admin"})

    members = f"/v1/enterprises/{ent}/members"
    assert (await alice.get(members)).json()["items"] == [
        {"user_id": "alice", "role": "owner", "status": "active"},
        {"user_id": "bob", "role": "member", "status": "invited"},
        {"user_id": "carol", "role": "member", "status": "active"},
        {"user_id": "dave", "role": "admin", "status": "invited"},
    ]
    assert (await carol.get(members)).json()["items"] == [
        {"user_id": "alice", "role": "owner", "status": "active"},
        {"user_id": "carol", "role": "member", "status": "active"},
    ]
    # Members may not invite; admins may not invite owners.
    assert (await carol.put(f"{members}/erin", json={"role": "member"})).status_code == 403
    await alice.put(f"{members}/carol", json={"role": "admin"})
    owner_invite = await carol.put(f"{members}/erin", json={"role": "owner"})
    assert owner_invite.status_code == 403
    assert owner_invite.json()["reasons"][0]["code"] == "owner_required"


async def test_decline_revoke_and_invite_again(client_as: Callable[..., Caller]) -> None:
    alice, bob = client_as("alice"), client_as("bob")
    ent, server = await _acme(alice)
    member_url = f"/v1/enterprises/{ent}/members/bob"

    # Declined: gone, and nothing was granted.
    await alice.put(member_url, json={"role": "member"})
    assert (await bob.delete(f"/v1/invitations/{ent}")).status_code == 204
    assert (await bob.get("/v1/invitations")).json()["items"] == []
    assert (await bob.post(f"/v1/invitations/{ent}/accept")).status_code == 404
    assert (await bob.delete(f"/v1/invitations/{ent}")).status_code == 404
    await _sees_nothing_of(bob, ent, server)

    # Re-invited, then revoked before acceptance.
    assert (await alice.put(member_url, json={"role": "member"})).status_code == 202
    assert (await alice.delete(member_url)).status_code == 204
    assert (await bob.get("/v1/invitations")).json()["items"] == []
    assert (await bob.post(f"/v1/invitations/{ent}/accept")).status_code == 404
    # Revoking what is not there is a 404.
    assert (await alice.delete(member_url)).status_code == 404

    # Invited again, with another role: the latest invitation is the one accepted.
    await alice.put(member_url, json={"role": "member"})
    await alice.put(member_url, json={"role": "admin"})
    accepted = await bob.post(f"/v1/invitations/{ent}/accept")
    assert accepted.json()["role"] == "admin"

    # A member who leaves is gone for good: only a new invitation, accepted, brings them back.
    assert (await bob.delete(member_url)).status_code == 204
    await _sees_nothing_of(bob, ent, server)


async def test_the_decisions_are_logged_with_their_actions(
    client_as: Callable[..., Caller],
) -> None:
    alice, bob = client_as("alice"), client_as("bob")
    ent, _ = await _acme(alice)
    await alice.put(f"/v1/enterprises/{ent}/members/bob", json={"role": "member"})
    await bob.post(f"/v1/invitations/{ent}/accept")
    records = await decision_records(alice.client)
    actions = [r.action for r in records if r.path == "gateway/authz/decision"]
    assert "enterprise.members.invite" in actions and "invitation.accept" in actions
    accept = next(r for r in records if r.action == "invitation.accept")
    assert accept.input["resource"]["type"] == "invitation"
    assert accept.input["resource"]["user_id"] == "bob"
    assert accept.enterprise_id == ent and accept.subject_id == "bob"
