package gateway.authz

# METADATA
# title: Members and invitations
# description: |
#   Rules of package gateway.authz (described in decision.rego). Resource type
#   `enterprise_member` (one user's place in an enterprise: `role`, `status` active or
#   invited, or null for neither) for what owners and admins do: invite, change a role,
#   remove a member, revoke an invitation. Only owners grant, change or remove the owner
#   role; an enterprise never loses its last owner; a personal enterprise has exactly one
#   member. Anyone may leave. Resource type `invitation` for what the invitee does: nobody
#   becomes a member without accepting, and only the invitee sees, accepts or declines an
#   invitation.
_member_change if input.resource.type == "enterprise_member"

_invitee if {
	_authenticated
	input.resource.type == "invitation"
	input.resource.user_id == input.subject.id
}

visible if {
	_member_change
	_role
}

visible if _invitee

grant if {
	_member_change
	_role_allows
	not _touches_owner
}

grant if {
	_member_change
	_role_allows
	_role_has("enterprise.owners.write")
}

# Leaving: a member removes themself.
grant if {
	_member_change
	_authenticated
	_granted_to("self")
	input.resource.user_id == input.subject.id
	input.resource.status == "active"
}

grant if {
	_invitee
	_granted_to("invitee")
}

_touches_owner if {
	_member_change
	input.resource.role == "owner"
}

_touches_owner if {
	_member_change
	input.proposed.role == "owner"
}

_no_longer_owner if input.action == "enterprise.members.remove"

_no_longer_owner if {
	input.action == "enterprise.members.update"
	input.proposed.role != "owner"
}

_why_not contains {
	"code": "owner_required",
	"message": concat("", [
		"only an owner of ", input.resource.enterprise_id, " can grant or remove the owner role",
	]),
} if {
	_role_allows
	_touches_owner
	not _role_has("enterprise.owners.write")
}

deny contains {
	"code": "last_owner",
	"message": concat("", [
		input.resource.user_id, " is the last owner of ", input.resource.enterprise_id,
		": add another owner first",
	]),
} if {
	_member_change
	input.resource.status == "active"
	input.resource.role == "owner"
	input.resource.owner_count <= 1
	_no_longer_owner
}

deny contains {
	"code": "personal_enterprise",
	"message": concat("", [
		input.resource.enterprise_id, " is a personal enterprise: it has exactly one member, its owner",
	]),
} if {
	_member_change
	input.resource.enterprise_kind == "personal"
}
