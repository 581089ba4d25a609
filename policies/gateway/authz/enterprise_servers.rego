package gateway.authz

# METADATA
# title: An enterprise's approved servers (/v1/enterprise/mcp-servers)
# description: |
#   Rules of package gateway.authz (described in decision.rego) for resource type
#   `enterprise_mcp_server`: members read the approved list, owners and admins write it
#   (data.gateway.role_actions). Mandatory means mandatory: taking an auto-enabled server
#   out of every member's view (deleting it, or turning `auto_enabled` off) needs the
#   `enterprise_server.mandatory.remove` permission, which only owners have.
_enterprise_server if input.resource.type == "enterprise_mcp_server"

visible if {
	_enterprise_server
	_role
}

grant if {
	_enterprise_server
	_role_allows
	not _removes_mandatory
}

grant if {
	_enterprise_server
	_role_allows
	_role_has("enterprise_server.mandatory.remove")
}

_removes_mandatory if {
	input.action == "enterprise_server.delete"
	input.resource.auto_enabled == true
}

_removes_mandatory if {
	input.action == "enterprise_server.update"
	input.resource.auto_enabled == true
	input.proposed.auto_enabled == false
}

_why_not contains {
	"code": "owner_required",
	"message": concat("", [
		_shown(input.resource.id), " is mandatory for every member of ",
		_shown(input.resource.enterprise_id),
		": only an owner can delete it or turn auto_enabled off",
	]),
} if {
	_enterprise_server
	_role_allows
	_removes_mandatory
	not _role_has("enterprise_server.mandatory.remove")
}
