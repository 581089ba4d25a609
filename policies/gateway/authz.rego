# Every scoping and role decision of the gateway (ADR-0008).
#
# Input: {"action", "subject", "resource", "context"} (schema: policies/schemas/input.json).
# Output: data.gateway.authz.decision = {"allow", "visible", "reasons"}.
#   visible = false  -> the gateway answers 404 (the caller may not know it exists)
#   visible, !allow  -> 403 with `reasons` (each {"code", "message"})
package gateway.authz

default allow := false

default visible := false

decision := {"allow": allow, "visible": visible, "reasons": reasons}

_subject := input.subject

_resource := input.resource

_action := input.action

# --- local-dev mode: auth disabled means unscoped (ADR-0008 "Auth enforcement") --------

_local_dev if input.subject.auth_enabled == false

visible if _local_dev

allow if _local_dev

_authenticated if {
	_subject.auth_enabled == true
	_subject.authenticated == true
}

# --- actions any authenticated user may take (listing their view, installing) ----------

visible if {
	_authenticated
	_action in data.gateway.any_user_actions
}

allow if {
	_authenticated
	_action in data.gateway.any_user_actions
	_action != "mcp_server.create"
	_action != "marketplace.install"
}

# A personal server is created for the caller themself, never for someone else.
allow if {
	_authenticated
	_action == "mcp_server.create"
	_resource.user_id == _subject.id
}

allow if {
	_authenticated
	_action == "marketplace.install"
	_resource.type == "marketplace_listing"
	count(_install_denials) == 0
}

# --- personal servers: visible to and managed by their owner only --------------------

_owns_personal if {
	_authenticated
	_resource.type == "mcp_server"
	_resource.source == "personal"
	_resource.user_id == _subject.id
}

visible if _owns_personal

allow if {
	_owns_personal
	_action in data.gateway.personal_owner_actions
}

# --- enterprise servers in a member's merged view: auto-enabled ones only ------------

_in_merged_view if {
	_authenticated
	_resource.type == "mcp_server"
	_resource.source == "enterprise"
	_resource.auto_enabled == true
	_subject.memberships[_resource.enterprise_id]
}

visible if _in_merged_view

allow if {
	_in_merged_view
	_action in data.gateway.enterprise_view_actions
}

_denials contains {
	"code": "enterprise_managed",
	"message": sprintf(
		"%s is managed by enterprise %s: members cannot change it; owners and admins manage it through /v1/enterprise/mcp-servers",
		[_resource.id, _resource.enterprise_id],
	),
} if {
	_in_merged_view
	not _action in data.gateway.enterprise_view_actions
}

# --- enterprises, their members and their approved servers: by role ------------------

_enterprise_types := {"enterprise", "enterprise_mcp_server", "enterprise_member", "audit_log"}

_role := _subject.memberships[_resource.enterprise_id].role if {
	_authenticated
	_resource.type in _enterprise_types
}

visible if _role

# Auditors (a platform role) see every enterprise's decision log.
visible if {
	_authenticated
	_resource.type == "audit_log"
	_platform_allows
}

_platform_allows if {
	some role in _subject.roles
	_action in data.gateway.platform_role_actions[role]
}

# Member changes need the members.write permission (owner changes also owners.write).
_permission := "enterprise.members.write" if {
	_action in {"enterprise.members.put", "enterprise.members.delete"}
} else := _action

_role_allows if _permission in data.gateway.role_actions[_role]

allow if {
	_resource.type in {"enterprise", "enterprise_mcp_server"}
	_role_allows
}

allow if {
	_resource.type == "audit_log"
	_role_allows
}

allow if {
	_resource.type == "audit_log"
	_authenticated
	_platform_allows
}

_denials contains {
	"code": "role_required",
	# concat, not sprintf: rego-cpp quotes a computed string passed to sprintf's %s.
	"message": concat("", [
		_action, " needs one of the roles ", concat(", ", sort(_roles_allowed)),
		" in enterprise ", _resource.enterprise_id, "; your role is ", _role,
	]),
} if {
	_role
	not _role_allows
	not _member_self_service
}

_roles_allowed contains role if {
	some role in object.keys(data.gateway.role_actions)
	_permission in data.gateway.role_actions[role]
}

# --- memberships: admins manage members, only owners manage owners, never the last owner

_member_change if _resource.type == "enterprise_member"

# A member may always leave (unless they are the last owner).
_member_self_service if {
	_member_change
	_action == "enterprise.members.delete"
	_resource.user_id == _subject.id
}

_touches_owner if {
	_member_change
	_resource.current_role == "owner"
}

_touches_owner if {
	_member_change
	_resource.new_role == "owner"
}

_leaves_no_owner if {
	_resource.current_role == "owner"
	_action == "enterprise.members.delete"
	_resource.owner_count <= 1
}

_leaves_no_owner if {
	_resource.current_role == "owner"
	_action == "enterprise.members.put"
	_resource.new_role != "owner"
	_resource.owner_count <= 1
}

allow if {
	_member_change
	_action == "enterprise.members.read"
	_role_allows
}

allow if {
	_member_change
	_action in {"enterprise.members.put", "enterprise.members.delete"}
	_may_change_member
	count(_denials) == 0
}

_may_change_member if _member_self_service

_may_change_member if {
	_role_allows
	not _touches_owner
}

_may_change_member if {
	"enterprise.owners.write" in data.gateway.role_actions[_role]
}

_denials contains {
	"code": "owner_required",
	"message": sprintf("only an owner of %s can grant or remove the owner role", [_resource.enterprise_id]),
} if {
	_touches_owner
	not _member_self_service
	"enterprise.members.write" in data.gateway.role_actions[_role]
	not "enterprise.owners.write" in data.gateway.role_actions[_role]
}

_denials contains {
	"code": "last_owner",
	"message": sprintf("%s is the last owner of %s: add another owner first", [_resource.user_id, _resource.enterprise_id]),
} if {
	_member_change
	_role
	_leaves_no_owner
}

_denials contains {
	"code": "personal_enterprise",
	"message": sprintf("%s is a personal enterprise: it has exactly one member, its owner", [_resource.enterprise_id]),
} if {
	_member_change
	_role
	_resource.enterprise_kind == "personal"
	_action == "enterprise.members.put"
}

_denials contains {
	"code": "personal_enterprise",
	"message": sprintf("%s is a personal enterprise: its owner cannot leave it", [_resource.enterprise_id]),
} if {
	_member_change
	_resource.enterprise_kind == "personal"
	_action == "enterprise.members.delete"
}

# --- marketplace installs: enterprises may restrict members to their approved list ----

# The rule itself lives in marketplace.rego, shared with the marketplace's batch entrypoint
# (data.gateway.marketplace.listings), so the listing page and the install cannot disagree.
_install_denials contains d if {
	_resource.type == "marketplace_listing"
	d := data.gateway.marketplace.install_denial(_subject, _resource)
}

_denials contains d if {
	_action == "marketplace.install"
	some d in _install_denials
}

# --- reasons: specific denials first, else a generic one -------------------------------

default reasons := set()

reasons := _denials if {
	not allow
	count(_denials) > 0
}

reasons := {{
	"code": "not_permitted",
	"message": sprintf("the policy does not permit %s on this resource", [_action]),
}} if {
	not allow
	count(_denials) == 0
}
