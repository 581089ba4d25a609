"""Properties of the Rego policies that must hold for every world, checked on generated ones
on the embedded engine: users, enterprises, memberships (owner/admin/member, active or
invited) and servers, turned into policy input exactly as the gateway does (the typed Structs
of gateway.policy.inputs; only accepted memberships reach `subject.memberships`).

- a non-member is never allowed anything on an enterprise's servers;
- a plain member never writes them;
- nobody sees another user's personal server (scope.view, nor any action on it);
- an invitee gets nothing of the enterprise before accepting.

Every action of the action table is asked for each generated world, so a property covers
every action, not only the ones a resource "should" see.
"""

from __future__ import annotations

import os
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config import REPO_POLICY_DIR
from gateway.domain.subjects import Membership, Subject
from gateway.policy import inputs
from gateway.policy.embedded import EmbeddedRegoEngine
from gateway.policy.engine import AUTHZ_DECISION, SCOPE_VIEW

ENGINE = EmbeddedRegoEngine(REPO_POLICY_DIR)
TABLE: dict[str, Any] = msgspec.json.decode(
    (REPO_POLICY_DIR / "gateway" / "data.json").read_bytes()
)["actions"]
ACTIONS = sorted(TABLE)
# Granted to any signed-in user whatever the resource's enterprise (listing one's own
# enterprises, creating one, the marketplace, one's own invitations): the gateway sends
# them with no enterprise's resource, so they say nothing about a given enterprise.
ANY_USER_ACTIONS = frozenset(a for a in ACTIONS if "any_user" in TABLE[a]["granted_to"])
SERVER_WRITES = frozenset(
    a
    for a in ACTIONS
    if a.startswith(("enterprise_server.", "mcp_server."))
    and not a.endswith((".read", ".list", ".launch"))
)

USERS = ("ann", "bob", "cat", "dan")
ENTS = ("ent_a", "ent_b", "ent_c")
ROLES = ("owner", "admin", "member")
STATUSES = ("active", "invited")
# POLICY_PROPERTY_EXAMPLES raises the count for a longer local run (docs/testing.md).
PROPERTY = settings(
    max_examples=int(os.environ.get("POLICY_PROPERTY_EXAMPLES", "120")),
    deadline=None,
    derandomize=True,
)


class World(msgspec.Struct, kw_only=True, frozen=True):
    """Who is in which enterprise, with which role, and whether they accepted."""

    kinds: dict[str, str]
    # (user, enterprise) -> (role, status)
    places: dict[tuple[str, str], tuple[str, str]]
    restricted: dict[str, bool]

    def placing(self, user: str, ent: str, place: tuple[str, str] | None) -> World:
        """The same world with `user`'s place in `ent` set (None: no place at all)."""
        places = {k: v for k, v in self.places.items() if k != (user, ent)}
        if place is not None:
            places[(user, ent)] = place
        return World(kinds=self.kinds, places=places, restricted=self.restricted)

    def subject(self, user: str, platform_roles: tuple[str, ...] = ()) -> Subject:
        """The subject the gateway builds: accepted memberships only."""
        return Subject(
            id=user,
            email=f"{user}@acme.io",
            roles=platform_roles,
            memberships={
                ent: Membership(
                    role=role,  # type: ignore[arg-type]
                    kind=self.kinds[ent],  # type: ignore[arg-type]
                    restrict_installs_to_approved=self.restricted[ent],
                )
                for (who, ent), (role, status) in self.places.items()
                if who == user and status == "active"
            },
        )


@st.composite
def worlds(draw: st.DrawFn) -> World:
    kinds = {ent: draw(st.sampled_from(["organization", "personal"])) for ent in ENTS}
    places = draw(
        st.dictionaries(
            st.tuples(st.sampled_from(USERS), st.sampled_from(ENTS)),
            st.tuples(st.sampled_from(ROLES), st.sampled_from(STATUSES)),
            max_size=8,
        )
    )
    return World(
        kinds=kinds,
        places=places,
        restricted={ent: draw(st.booleans()) for ent in ENTS},
    )


maybe_bool = st.sampled_from([True, False, None])
launch = st.fixed_dictionaries(
    {
        "transport": st.sampled_from(["stdio", "sse", "streamable_http"]),
        "command": st.sampled_from(["npx", "uvx", None]),
        "args": st.sampled_from([[], ["-y", "x"]]),
        "url": st.sampled_from([None, "https://mcp.example.com/mcp"]),
        "env": st.sampled_from([[], ["API_KEY"]]),
        "enabled": maybe_bool,
        "credentials_set": st.sampled_from([[], ["API_KEY"]]),
    }
)


def personal_servers(owner: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.builds(
        lambda fields, user, exists: inputs.MCPServerResource(
            **fields, id="mcp_1", name="s", source="personal", user_id=user, exists=exists
        ),
        launch,
        owner,
        st.booleans(),
    )


def enterprise_servers(ent: str) -> st.SearchStrategy[Any]:
    """The same server reached both ways: in the approved list and through the merged view."""
    return st.builds(
        lambda fields, auto, creator, exists, as_view: (
            inputs.MCPServerResource(
                **fields,
                id="emcp_1",
                name="s",
                source="enterprise",
                enterprise_id=ent,
                auto_enabled=auto,
                created_by=creator,
                exists=exists,
            )
            if as_view
            else inputs.EnterpriseServerResource(
                **fields,
                id="emcp_1",
                name="s",
                enterprise_id=ent,
                auto_enabled=auto,
                created_by=creator,
                exists=exists,
            )
        ),
        launch,
        maybe_bool,
        st.sampled_from([*USERS, None]),
        st.booleans(),
        st.booleans(),
    )


def enterprise_things(world: World, ent: str, user: str) -> st.SearchStrategy[Any]:
    """Anything that belongs to `ent`: itself, a place in it, its servers, its log."""
    kind = world.kinds[ent]
    return st.one_of(
        enterprise_servers(ent),
        st.builds(
            lambda exists: inputs.EnterpriseResource(
                id=ent, enterprise_id=ent, name="Acme", kind=kind, exists=exists
            ),  # type: ignore[arg-type]
            st.booleans(),
        ),
        st.builds(
            lambda who, owners: inputs.EnterpriseMemberResource(
                enterprise_id=ent,
                enterprise_kind=kind,  # type: ignore[arg-type]
                user_id=who,
                # As the store has it: the world's place, whoever `who` is.
                role=world.places[(who, ent)][0] if (who, ent) in world.places else None,
                status=world.places[(who, ent)][1] if (who, ent) in world.places else None,
                owner_count=owners,
            ),
            st.sampled_from(USERS),
            st.integers(0, 3),
        ),
        st.just(inputs.AuditLogResource(enterprise_id=ent)),
    )


def decide(
    subject: Subject, resource: Any, action: str, proposed: Any | None = None
) -> dict[str, Any]:
    doc = inputs.PolicyInput(
        action=action,
        subject=subject,
        resource=resource,
        proposed=proposed,
        request=inputs.RequestInfo(method="POST", path="/v1/x", req_id="r"),
        context=inputs.DecisionContext(enterprise_id=getattr(resource, "enterprise_id", None)),
    )
    answer = ENGINE.evaluate_sync(AUTHZ_DECISION, msgspec.json.encode(doc))
    assert isinstance(answer, dict), answer
    return answer


def answers(subject: Subject, resource: Any, proposed: Any | None = None) -> dict[str, Any]:
    """The decision for every action of the table on `resource`."""
    return {a: decide(subject, resource, a, proposed) for a in ACTIONS}


def allowed_actions(subject: Subject, resource: Any, proposed: Any | None = None) -> list[str]:
    return [a for a, answer in answers(subject, resource, proposed).items() if answer["allow"]]


def view(subject: Subject) -> dict[str, Any]:
    doc = inputs.SubjectInput(subject=subject, request=inputs.RequestInfo(method="GET"))
    answer = ENGINE.evaluate_sync(SCOPE_VIEW, msgspec.json.encode(doc))
    assert isinstance(answer, dict), answer
    return answer


platform_roles = st.sampled_from([(), ("auditor",), ("other",)])


@PROPERTY
@given(data=st.data(), world=worlds(), user=st.sampled_from(USERS), roles=platform_roles)
def test_a_non_member_is_never_allowed_anything_on_an_enterprise_s_servers(
    data: st.DataObject, world: World, user: str, roles: tuple[str, ...]
) -> None:
    ent = data.draw(st.sampled_from(ENTS))
    # No place, or invited in any role (an invitation is not a membership).
    place = data.draw(st.one_of(st.none(), st.tuples(st.sampled_from(ROLES), st.just("invited"))))
    world = world.placing(user, ent, place)
    server = data.draw(enterprise_servers(ent))
    subject = world.subject(user, roles)
    got = answers(subject, server, proposed=server)
    assert [a for a, answer in got.items() if answer["allow"] or answer["visible"]] == []
    assert ent not in view(subject)["enterprise_ids"]


@PROPERTY
@given(data=st.data(), world=worlds(), user=st.sampled_from(USERS), roles=platform_roles)
def test_a_member_never_writes_an_enterprise_s_servers(
    data: st.DataObject, world: World, user: str, roles: tuple[str, ...]
) -> None:
    ent = data.draw(st.sampled_from(ENTS))
    world = world.placing(user, ent, ("member", "active"))
    server = data.draw(enterprise_servers(ent))
    proposed = data.draw(st.one_of(st.none(), enterprise_servers(ent)))
    subject = world.subject(user, roles)
    assert set(allowed_actions(subject, server, proposed)) & SERVER_WRITES == set()


@PROPERTY
@given(data=st.data(), world=worlds(), user=st.sampled_from(USERS), roles=platform_roles)
def test_nobody_sees_another_user_s_personal_server(
    data: st.DataObject, world: World, user: str, roles: tuple[str, ...]
) -> None:
    others = st.sampled_from([u for u in USERS if u != user])
    server = data.draw(personal_servers(others))
    # Whatever the change proposes (even handing the server to the caller), it stays theirs.
    proposed = data.draw(st.one_of(st.none(), personal_servers(st.sampled_from(USERS))))
    subject = world.subject(user, roles)
    got = answers(subject, server, proposed)
    assert [a for a, answer in got.items() if answer["allow"] or answer["visible"]] == []
    assert view(subject)["user_ids"] == [user]


@PROPERTY
@given(data=st.data(), world=worlds(), user=st.sampled_from(USERS), roles=platform_roles)
def test_an_invitee_gets_nothing_before_accepting(
    data: st.DataObject, world: World, user: str, roles: tuple[str, ...]
) -> None:
    ent = data.draw(st.sampled_from(ENTS))
    world = world.placing(user, ent, (data.draw(st.sampled_from(ROLES)), "invited"))
    thing = data.draw(enterprise_things(world, ent, user))
    subject = world.subject(user, roles)
    granted = set(allowed_actions(subject, thing)) - ANY_USER_ACTIONS
    # The platform auditor reads every enterprise's log, invited or not (audit.rego).
    expected = (
        {"audit.read"}
        if isinstance(thing, inputs.AuditLogResource) and "auditor" in roles
        else set()
    )
    assert granted == expected
    assert ent not in view(subject)["enterprise_ids"]
    # What accepting means: their own invitation is theirs to accept or decline.
    mine = inputs.InvitationResource(enterprise_id=ent, user_id=user, role="member")
    assert set(allowed_actions(subject, mine)) - ANY_USER_ACTIONS == {
        "invitation.accept",
        "invitation.decline",
    }


def test_the_properties_can_fail() -> None:
    """The same checks see a grant where there is one: an owner writes, a server's owner
    sees it, an accepted member reads the enterprise."""
    world = World(
        kinds=dict.fromkeys(ENTS, "organization"),
        places={("ann", "ent_a"): ("owner", "active"), ("bob", "ent_a"): ("member", "active")},
        restricted=dict.fromkeys(ENTS, False),
    )
    server = inputs.EnterpriseServerResource(id="emcp_1", enterprise_id="ent_a")
    assert set(allowed_actions(world.subject("ann"), server)) >= SERVER_WRITES & {
        a for a in ACTIONS if a.startswith("enterprise_server.")
    }
    assert "enterprise_server.read" in allowed_actions(world.subject("bob"), server)
    mine = inputs.MCPServerResource(id="mcp_1", source="personal", user_id="ann")
    assert "mcp_server.update" in allowed_actions(world.subject("ann"), mine)
    assert view(world.subject("bob"))["enterprise_ids"] == ["ent_a"]
