"""The policy input, typed: one msgspec Struct per resource type, tagged by `type`.

A rule can say anything about what is acted on or proposed only if the gateway sends it, so
each resource carries every non-secret field of its object, and `proposed` the object as it
would be after the change. `policies/schemas/input.json` (one `anyOf` branch per resource type:
ADR 0023) is generated from these Structs (`gateway policy schema --write policies/schemas`)
and CI fails when it is stale, so Python
and Rego cannot drift apart. Contract: docs/policies.md.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import msgspec

from gateway.domain.enterprises import Enterprise, Invitation
from gateway.domain.requests import RequestInfo
from gateway.domain.servers import AnyServer, EnterpriseMCPServer, MCPServerConfig
from gateway.domain.subjects import EnterpriseKind, MemberStatus, Role, Subject


class Counts(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """`input.context.counts`: what already exists, for the quotas in data.gateway.quotas;
    only the count the action can grow is sent."""

    # The caller's personal servers (mcp_server.create, marketplace.install).
    personal_servers: int | None = None
    # The enterprise's servers (enterprise_server.create).
    enterprise_servers: int | None = None
    # The enterprise's members and pending invitations (enterprise.members.invite).
    enterprise_seats: int | None = None


class DecisionContext(msgspec.Struct, kw_only=True, frozen=True):
    """`input.context`: the enterprise the request is about, when it names one, and the
    counts the quotas need."""

    enterprise_id: str | None = None
    counts: Counts = msgspec.field(default_factory=Counts)


class _Launch(msgspec.Struct, kw_only=True, frozen=True):
    """How a server is launched: what a server and a listing's facts both carry."""

    exists: bool = True
    transport: str | None = None
    command: str | None = None
    args: list[str] = msgspec.field(default_factory=list)
    url: str | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    env: list[str] = msgspec.field(default_factory=list)


class ListingFacts(_Launch, kw_only=True, frozen=True):
    """The marketplace listing a proposed personal server names: its launch fields and which
    of the caller's enterprises approved it (`exists: false` when the catalog has no such
    listing)."""

    id: str
    approved_by: list[str]


class _Resource(msgspec.Struct, kw_only=True, frozen=True, tag_field="type"):
    exists: bool = True


class _ServerFields(_Launch, kw_only=True, frozen=True, tag_field="type"):
    """Every non-secret field a server has (`credentials_set` holds names, not values)."""

    id: str | None = None
    name: str | None = None
    description: str | None = None
    enabled: bool | None = None
    marketplace_listing_id: str | None = None
    credentials_set: list[str] = msgspec.field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None


class _ManagedServerFields(_ServerFields, kw_only=True, frozen=True):
    """An enterprise server's own fields (null on a personal server)."""

    enterprise_id: str | None = None
    auto_enabled: bool | None = None
    created_by: str | None = None


class ToolAnnotations(msgspec.Struct, kw_only=True, frozen=True):
    """A tool's MCP annotations, snake_cased (`readOnlyHint` is `read_only_hint`). Hints the
    upstream server gives about itself: a rule on them trusts the server it allows."""

    title: str | None = None
    read_only_hint: bool | None = None
    destructive_hint: bool | None = None
    idempotent_hint: bool | None = None
    open_world_hint: bool | None = None


class ApprovalFacts(msgspec.Struct, kw_only=True, frozen=True):
    """The approval recorded for exactly this call (user, server, tool, arguments), sent
    when the policy asked for one: its `state` (pending | allowed | refused | used), whether
    it has `expired`, and who decided it."""

    id: str
    state: str
    expired: bool
    decided_by: str | None = None


class ToolFacts(msgspec.Struct, kw_only=True, frozen=True):
    """The tool a `tool.call` is about (the MCP proxy); `arguments` only on a call.

    Its pin (docs/adr/0057-tool-integrity.md): `fingerprint` is the sha256 of what the
    upstream serves now, `pinned` the one approved (null when the tool is seen for the first
    time: it is pinned as it is), `changed` the fields that differ from the pin (`name`,
    `description`, `input_schema`, `output_schema`, `annotations`), `pinned_by` the user who
    approved the pin (null: pinned on first sight). On a `tool_pin.approve`, `fingerprint` is
    the changed definition being approved."""

    name: str
    title: str | None = None
    description: str | None = None
    annotations: ToolAnnotations = msgspec.field(default_factory=ToolAnnotations)
    arguments: dict[str, Any] | None = None
    pinned: str | None = None
    fingerprint: str | None = None
    changed: list[str] = msgspec.field(default_factory=list)
    pinned_by: str | None = None
    approval: ApprovalFacts | None = None


class ResourceFacts(msgspec.Struct, kw_only=True, frozen=True):
    """The MCP resource a `resource.read` is about (the MCP proxy): its URI as the upstream
    names it, or, for a template in a list, the URI template (`template: true`)."""

    uri: str
    name: str | None = None
    title: str | None = None
    description: str | None = None
    mime_type: str | None = None
    template: bool = False


class PromptFacts(msgspec.Struct, kw_only=True, frozen=True):
    """The prompt a `prompt.get` is about (the MCP proxy): the names of the arguments it
    declares, and on a get the arguments given (values are the caller's: masked in the log
    where they look like credentials)."""

    name: str
    title: str | None = None
    description: str | None = None
    argument_names: list[str] = msgspec.field(default_factory=list)
    arguments: dict[str, str] | None = None


class SandboxFacts(msgspec.Struct, kw_only=True, frozen=True):
    """The sandbox an `mcp_server.run` asks for (the MCP proxy hosting a stdio server):
    `egress` is whether it would have network access. The gateway asks with egress first
    when it starts a sandbox, then without; a running sandbox is asked about as it runs."""

    egress: bool


class MCPServerResource(_ManagedServerFields, kw_only=True, frozen=True, tag="mcp_server"):
    """A server reached through `/v1/mcp-servers`: personal, or an enterprise server of the
    merged view. `listing` is filled on a proposed personal server that names a listing;
    through the MCP proxy, `tool` on a `tool.call`, `mcp_resource` on a `resource.read`,
    `prompt` on a `prompt.get`, `sandbox` on an `mcp_server.run`."""

    source: Literal["personal", "enterprise"] | None = None
    user_id: str | None = None
    listing: ListingFacts | None = None
    tool: ToolFacts | None = None
    mcp_resource: ResourceFacts | None = None
    prompt: PromptFacts | None = None
    sandbox: SandboxFacts | None = None


class EnterpriseServerResource(
    _ManagedServerFields, kw_only=True, frozen=True, tag="enterprise_mcp_server"
):
    """A server of an enterprise's approved list (`/v1/enterprise/mcp-servers`); `id` is null
    for the list itself."""


class EnterpriseResource(_Resource, kw_only=True, frozen=True, tag="enterprise"):
    """An enterprise; `id` null for the caller's list of them."""

    id: str | None = None
    enterprise_id: str | None = None
    name: str | None = None
    kind: EnterpriseKind | None = None
    restrict_installs_to_approved: bool | None = None
    created_at: datetime | None = None


class EnterpriseMemberResource(_Resource, kw_only=True, frozen=True, tag="enterprise_member"):
    """One user's place in an enterprise: `role` and `status` (active | invited), both null
    when the user is neither; `owner_count` counts the active owners."""

    enterprise_id: str
    enterprise_kind: EnterpriseKind | None = None
    user_id: str
    role: Role | None = None
    status: MemberStatus | None = None
    owner_count: int = 0
    invited_by: str | None = None


class InvitationResource(_Resource, kw_only=True, frozen=True, tag="invitation"):
    """An invitation as its invitee sees it; `enterprise_id` null for the invitee's list."""

    enterprise_id: str | None = None
    enterprise_name: str | None = None
    enterprise_kind: EnterpriseKind | None = None
    user_id: str
    role: Role | None = None
    invited_by: str | None = None
    created_at: datetime | None = None


class MarketplaceListingResource(_Resource, kw_only=True, frozen=True, tag="marketplace_listing"):
    """A catalog listing; `approved_by` names the caller's enterprises that approved it."""

    id: str | None = None
    name: str | None = None
    publisher: str | None = None
    categories: list[str] = msgspec.field(default_factory=list)
    transport: str | None = None
    command: str | None = None
    args: list[str] = msgspec.field(default_factory=list)
    url: str | None = None
    env: list[str] = msgspec.field(default_factory=list)
    approved_by: list[str] = msgspec.field(default_factory=list)


class RegistryEntryResource(_Resource, kw_only=True, frozen=True, tag="registry_entry"):
    """A server the MCP registry (`/v0.1`) could show the caller: a catalog listing, a server
    of the caller's merged view, or the gateway's own `/mcp`. `id` is the listing's or the
    server's id (`gateway` for the gateway), `name` the entry's registry name; a listing
    carries which of the caller's enterprises approved it."""

    id: str | None = None
    name: str | None = None
    source: Literal["catalog", "personal", "enterprise", "gateway"] | None = None
    listing_id: str | None = None
    approved_by: list[str] = msgspec.field(default_factory=list)
    user_id: str | None = None
    enterprise_id: str | None = None


class AuditLogResource(_Resource, kw_only=True, frozen=True, tag="audit_log"):
    """The decision log, or the part of it about one enterprise; `id` is a decision id when
    one record is read (its `enterprise_id` the record's)."""

    id: str | None = None
    enterprise_id: str | None = None


class ApprovalResource(_Resource, kw_only=True, frozen=True, tag="approval"):
    """A tool call waiting for (or holding) a person's approval (`/v1/approvals`): the call
    it is bound to, who asked (`user_id`), who may approve (`approvers`: user ids, and roles
    in the server's enterprise), its state and expiry. `id` is null for the list."""

    id: str | None = None
    state: str | None = None
    expired: bool = False
    user_id: str | None = None
    server_id: str | None = None
    enterprise_id: str | None = None
    tool: str | None = None
    arguments_sha256: str | None = None
    approver_ids: list[str] = msgspec.field(default_factory=list)
    approver_roles: list[str] = msgspec.field(default_factory=list)
    expires_at: datetime | None = None


class PolicyRevisionResource(_Resource, kw_only=True, frozen=True, tag="policy"):
    """The policy the gateway and its OPA run: revisions, refused changes (their errors
    quote the Rego), the bundle served."""

    id: str | None = None  # the serving revision


Resource = (
    MCPServerResource
    | EnterpriseServerResource
    | EnterpriseResource
    | EnterpriseMemberResource
    | InvitationResource
    | MarketplaceListingResource
    | RegistryEntryResource
    | AuditLogResource
    | PolicyRevisionResource
    | ApprovalResource
)
RESOURCE_TYPES: tuple[type[Resource], ...] = (
    MCPServerResource,
    EnterpriseServerResource,
    EnterpriseResource,
    EnterpriseMemberResource,
    InvitationResource,
    MarketplaceListingResource,
    RegistryEntryResource,
    AuditLogResource,
    PolicyRevisionResource,
    ApprovalResource,
)


# What `proposed` is, when it is not the resource changed: installing a listing proposes the
# personal server it would create.
PROPOSED_TYPES: dict[type[Resource], type[Resource]] = {
    MarketplaceListingResource: MCPServerResource
}


class PolicyInput(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """`data.gateway.authz.decision`'s input; `proposed` is absent for reads and deletes."""

    action: str
    subject: Subject
    resource: Resource
    proposed: Resource | None = None
    request: RequestInfo
    context: DecisionContext


class SubjectInput(msgspec.Struct, kw_only=True, frozen=True):
    """The input of `scope.view` and `accounts.provision`."""

    subject: Subject
    request: RequestInfo


class ListingItem(msgspec.Struct, kw_only=True, frozen=True):
    resource: MarketplaceListingResource
    proposed: MCPServerResource


class ListingsInput(msgspec.Struct, kw_only=True, frozen=True):
    """`data.gateway.marketplace.listings`: one page, each item an install's resource and
    proposed server (the decision evaluated for each is `marketplace.install`)."""

    subject: Subject
    request: RequestInfo
    # The context each listing's install decision gets: exactly what an install sends.
    context: DecisionContext = msgspec.field(default_factory=DecisionContext)
    listings: list[ListingItem]


# --- builders: entities -> resources ------------------------------------------------------


def _server_values(server: AnyServer) -> dict[str, Any]:
    return _same_named(server, _ServerFields)


def view_server(
    server: AnyServer,
    listing: ListingFacts | None = None,
    tool: ToolFacts | None = None,
    *,
    mcp_resource: ResourceFacts | None = None,
    prompt: PromptFacts | None = None,
    sandbox: SandboxFacts | None = None,
) -> MCPServerResource:
    """A server as reached through the merged view (`/v1/mcp-servers/{id}`, the MCP proxy)."""
    if isinstance(server, MCPServerConfig):
        return MCPServerResource(
            **_server_values(server),
            source="personal",
            user_id=server.user_id,
            listing=listing,
            tool=tool,
            mcp_resource=mcp_resource,
            prompt=prompt,
            sandbox=sandbox,
        )
    return MCPServerResource(
        **_server_values(server),
        source="enterprise",
        enterprise_id=server.enterprise_id,
        auto_enabled=server.auto_enabled,
        created_by=server.created_by,
        tool=tool,
        mcp_resource=mcp_resource,
        prompt=prompt,
        sandbox=sandbox,
    )


def enterprise_server(server: EnterpriseMCPServer) -> EnterpriseServerResource:
    return EnterpriseServerResource(
        **_server_values(server),
        enterprise_id=server.enterprise_id,
        auto_enabled=server.auto_enabled,
        created_by=server.created_by,
    )


def _same_named(source: msgspec.Struct, kind: type[msgspec.Struct]) -> dict[str, Any]:
    """The values of `source`'s fields that `kind` has too (their names are the contract)."""
    return {f: getattr(source, f) for f in source.__struct_fields__ if f in kind.__struct_fields__}


def enterprise(ent: Enterprise) -> EnterpriseResource:
    return EnterpriseResource(**_same_named(ent, EnterpriseResource), enterprise_id=ent.id)


def invitation(inv: Invitation, ent: Enterprise) -> InvitationResource:
    return InvitationResource(
        **_same_named(inv, InvitationResource), enterprise_name=ent.name, enterprise_kind=ent.kind
    )


def missing(kind: type[Resource], resource_id: str, **fields: Any) -> Resource:
    """A lookup of an id that does not exist: still decided and logged, then 404."""
    return kind(id=resource_id, exists=False, **fields)  # type: ignore[call-arg]


def listing_facts(
    listing_id: str, launch: Mapping[str, Any] | None, approvals: Mapping[str, Sequence[str]]
) -> ListingFacts:
    """`launch` is the listing's launch fields (None when the catalog has no such id)."""
    approved_by = list(approvals.get(listing_id, ()))
    if launch is None:
        return ListingFacts(id=listing_id, exists=False, approved_by=approved_by)
    return ListingFacts(id=listing_id, exists=True, approved_by=approved_by, **launch)


# --- schemas ---------------------------------------------------------------------------------


def _authz_input_type(kind: type[Resource]) -> type[msgspec.Struct]:
    return msgspec.defstruct(
        f"{kind.__name__}Input",
        [
            ("action", str),
            ("subject", Subject),
            ("resource", kind),
            ("proposed", PROPOSED_TYPES.get(kind, kind) | None, None),  # type: ignore[operator]
            ("request", RequestInfo),
            ("context", DecisionContext),
        ],
        kw_only=True,
    )


@functools.cache  # built from the Structs alone; each compile checks against it. Read-only.
def input_schema() -> dict[str, Any]:
    """The one JSON schema of every input the gateway sends (policies/schemas/input.json):
    `anyOf` the authz input of each resource type (`$defs/<Type>ResourceInput`), the
    subject-only input and the marketplace page. One file, because OPA loads every JSON file
    under a policy directory as data and two schema files would collide there; OPA's type
    checker reads it too (`opa check --schema policies/schemas`)."""
    types = [_authz_input_type(kind) for kind in RESOURCE_TYPES] + [SubjectInput, ListingsInput]
    refs, defs = msgspec.json.schema_components(types, ref_template="#/$defs/{name}")
    return {
        "$comment": "generated by `gateway policy schema --write policies/schemas`; do not edit",
        "anyOf": list(refs),
        "$defs": defs,
    }


def schema_for(kind: type[Resource] | str, schema: dict[str, Any]) -> dict[str, Any]:
    """The part of `schema` (input_schema()) for one resource type's authz input, or for
    `SubjectInput` / `ListingsInput` by name."""
    name = kind if isinstance(kind, str) else f"{kind.__name__}Input"
    return {"$ref": f"#/$defs/{name}", "$defs": schema["$defs"]}
