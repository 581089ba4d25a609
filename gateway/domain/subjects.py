"""Who is asking: the authenticated subject and the enterprise facts policies need."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Role = Literal["owner", "admin", "member"]
EnterpriseKind = Literal["personal", "organization"]
# A member has accepted (active); an invitee has not yet, and has no role until they do.
MemberStatus = Literal["active", "invited"]
SubjectKind = Literal["user", "service"]


class Membership(msgspec.Struct, kw_only=True, frozen=True):
    role: Role
    kind: EnterpriseKind
    # The enterprise's governance settings the policy needs about this subject.
    restrict_installs_to_approved: bool = False


class Subject(msgspec.Struct, kw_only=True, frozen=True):
    """The `subject` of every policy input (field names are the Rego contract). A `service`
    is an app acting for itself (a client-credentials token: `id` is its client id, no
    email); `claims` are the token's claims the operator chose to pass (GATEWAY_JWT_CLAIMS)."""

    id: str
    email: str | None
    name: str | None = None
    kind: SubjectKind = "user"
    roles: tuple[str, ...] = ()
    claims: dict[str, Any] = msgspec.field(default_factory=dict)
    authenticated: bool = True
    auth_enabled: bool = True
    # Accepted memberships only: an invitation grants nothing until it is accepted.
    memberships: dict[str, Membership] = msgspec.field(default_factory=dict)


# With auth disabled (the ADR's local-dev mode) everyone is this subject; the policy
# sees `auth_enabled: false` and answers unscoped.
LOCAL_DEV_SUBJECT = Subject(
    id="local-dev", email="local-dev@localhost", authenticated=False, auth_enabled=False
)

# A caller with no token where the route lets anyone in (the MCP registry, `/v0.1`): the policy
# sees `authenticated: false` and, shipped as it is, shows the public catalog only.
ANONYMOUS_SUBJECT = Subject(id="anonymous", email=None, authenticated=False, auth_enabled=True)
