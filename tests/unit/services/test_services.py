"""The use cases without HTTP, as the MCP proxy calls them: what each decides, stores and
refuses, on the memory stores with the shipped policy."""

from __future__ import annotations

import pytest

from gateway.domain.enterprises import EnterpriseCreate
from gateway.domain.servers import (
    EnterpriseServerCreate,
    EnterpriseServerPatch,
    ServerCreate,
    ServerPatch,
)
from gateway.errors import Conflict, Denied, InvalidInput, NotFound
from gateway.services.credentials import CredentialsPut
from gateway.services.secret_records import secret_owner
from gateway.wiring import Runtime
from tests.unit.services.conftest import subject

STDIO = ServerCreate(name="files", transport="stdio", command="uvx", env=["TOKEN"])


async def test_personal_servers_are_their_owners_alone(runtime: Runtime) -> None:
    servers = runtime.services.servers
    alice, bob = await subject(runtime, "alice"), await subject(runtime, "bob")
    created = await servers.create(alice, STDIO)
    assert created.user_id == "alice" and created.id.startswith("mcp_")
    assert [s.id for s in await servers.list(alice)] == [created.id]
    assert await servers.list(bob) == []
    with pytest.raises(NotFound):
        await servers.get(bob, created.id)
    with pytest.raises(NotFound):
        await servers.delete(bob, created.id)
    renamed = await servers.update(alice, created.id, ServerPatch(name="files v2"))
    assert renamed.name == "files v2"
    await servers.delete(alice, created.id)
    with pytest.raises(NotFound):
        await servers.get(alice, created.id)


async def test_an_invalid_patch_is_judged_only_after_visibility(runtime: Runtime) -> None:
    servers = runtime.services.servers
    alice, bob = await subject(runtime, "alice"), await subject(runtime, "bob")
    created = await servers.create(alice, STDIO)
    bad = ServerPatch(transport="sse")  # sse without a url
    with pytest.raises(NotFound):  # bob may not learn it exists from a 400
        await servers.update(bob, created.id, bad)
    with pytest.raises(InvalidInput) as invalid:
        await servers.update(alice, created.id, bad)
    assert invalid.value.fields == {"url": "required when `transport` is 'sse'"}


async def test_credentials_are_set_for_declared_names_only(runtime: Runtime) -> None:
    alice = await subject(runtime, "alice")
    created = await runtime.services.servers.create(alice, STDIO)
    credentials = runtime.services.credentials
    updated = await credentials.set_personal(
        alice, created.id, CredentialsPut(values={"TOKEN": "s3cret"})
    )
    assert updated.credentials_set == ["TOKEN"]
    launch = await credentials.launch(alice, created.id)
    assert launch.env == {"TOKEN": "s3cret"} and launch.missing_env == []
    with pytest.raises(InvalidInput) as undeclared:
        await credentials.set_personal(alice, created.id, CredentialsPut(values={"OTHER": "x"}))
    assert list(undeclared.value.fields) == ["values.OTHER"]


async def test_membership_needs_an_accepted_invitation(runtime: Runtime) -> None:
    enterprises = runtime.services.enterprises
    alice = await subject(runtime, "alice")
    ent = await enterprises.create(alice, EnterpriseCreate(name="Acme"))
    alice = await subject(runtime, "alice")
    invited = await enterprises.put_member(alice, ent.id, "bob", "member")
    assert invited.status == "invited"
    bob = await subject(runtime, "bob")
    assert bob.memberships == {}
    assert [i.enterprise_id for i in await enterprises.my_invitations(bob)] == [ent.id]
    accepted = await enterprises.accept(bob, ent.id)
    assert (accepted.role, accepted.status) == ("member", "active")
    bob = await subject(runtime, "bob")
    assert bob.memberships[ent.id].role == "member"
    with pytest.raises(NotFound):
        await enterprises.accept(bob, ent.id)  # nothing left to accept


async def test_the_last_owner_stays(runtime: Runtime) -> None:
    enterprises = runtime.services.enterprises
    alice = await subject(runtime, "alice")
    ent = await enterprises.create(alice, EnterpriseCreate(name="Acme"))
    alice = await subject(runtime, "alice")
    with pytest.raises(Denied) as denied:
        await enterprises.remove_member(alice, ent.id, "alice")
    assert denied.value.reasons[0]["code"] == "last_owner"


async def test_mandatory_servers_are_removed_by_owners_only(runtime: Runtime) -> None:
    enterprises, servers = runtime.services.enterprises, runtime.services.enterprise_servers
    alice = await subject(runtime, "alice")
    ent = await enterprises.create(alice, EnterpriseCreate(name="Acme"))
    alice = await subject(runtime, "alice")
    await enterprises.put_member(alice, ent.id, "carol", "admin")
    await enterprises.accept(await subject(runtime, "carol"), ent.id)
    carol = await subject(runtime, "carol")
    mandatory = await servers.create(
        carol,
        ent.id,
        EnterpriseServerCreate(name="gh", transport="stdio", command="x", auto_enabled=True),
    )
    with pytest.raises(Denied):
        await servers.update(carol, mandatory.id, EnterpriseServerPatch(auto_enabled=False))
    with pytest.raises(Denied):
        await servers.delete(carol, mandatory.id)
    await servers.delete(alice, mandatory.id)


async def test_deleting_an_enterprise_removes_what_it_held(runtime: Runtime) -> None:
    enterprises, servers = runtime.services.enterprises, runtime.services.enterprise_servers
    alice = await subject(runtime, "alice")
    ent = await enterprises.create(alice, EnterpriseCreate(name="Acme"))
    alice = await subject(runtime, "alice")
    server = await servers.create(
        alice, ent.id, EnterpriseServerCreate(name="gh", transport="stdio", command="x", env=["T"])
    )
    await runtime.services.credentials.set_enterprise(
        alice, server.id, CredentialsPut(values={"T": "secret"})
    )
    await enterprises.delete(alice, ent.id)
    assert await runtime.stores.enterprises.get(ent.id) is None
    assert await runtime.stores.enterprise_servers.get(server.id) is None
    assert await runtime.stores.secrets.list_names(secret_owner(server)) == []
    with pytest.raises(NotFound):
        await enterprises.get(alice, ent.id)


async def test_a_marketplace_install_conflicts_with_the_view(runtime: Runtime) -> None:
    marketplace = runtime.services.marketplace
    alice = await subject(runtime, "alice")
    server = await marketplace.install(alice, "time")
    assert server.marketplace_listing_id == "time"
    with pytest.raises(Conflict):
        await marketplace.install(alice, "time")
    (listing,) = await marketplace.describe(alice, [marketplace.catalog.get("time")])  # type: ignore[list-item]
    assert (listing.installed, listing.allowed) == (True, True)
    with pytest.raises(NotFound):
        await marketplace.install(alice, "no-such-listing")
