package gateway.authz

# METADATA
# title: Enterprises (/v1/enterprises)
# description: |
#   Rules of package gateway.authz (described in decision.rego) for resource type
#   `enterprise`: any user lists their enterprises and creates organizations; members read;
#   what else a role may do is data.gateway.role_actions (owners alone delete). A personal
#   enterprise is its user's own: it cannot be deleted.
_enterprise if input.resource.type == "enterprise"

visible if {
	_enterprise
	_role
}

grant if {
	_enterprise
	_role_allows
}

deny contains {
	"code": "personal_enterprise",
	"message": concat("", [_shown(input.resource.id), " is a personal enterprise: it cannot be deleted"]),
} if {
	input.action == "enterprise.delete"
	input.resource.kind == "personal"
}
