# Enterprises (/v1/enterprises): rules of package gateway.authz (annotated in decision.rego).
#
# Resource type `enterprise`: any user lists their enterprises and creates organizations;
# members read; what else a role may do is data.gateway.role_actions (owners alone delete).
# A personal enterprise is its user's own: it cannot be deleted.
package gateway.authz

visible if {
	input.resource.type == "enterprise"
	_role
}

grant if {
	input.resource.type == "enterprise"
	_role_allows
}

deny contains {
	"code": "personal_enterprise",
	"message": concat("", [_shown(input.resource.id), " is a personal enterprise: it cannot be deleted"]),
} if {
	input.action == "enterprise.delete"
	input.resource.kind == "personal"
}
