package gateway.authz

# METADATA
# title: MCP servers through /v1/mcp-servers
# description: |
#   Rules of package gateway.authz (described in decision.rego) for resource type
#   `mcp_server`: a caller's personal servers (their owner may do everything
#   `personal_owner` is granted) and the enterprise servers of their merged view (read and
#   launch only: owners and admins manage those through /v1/enterprise/mcp-servers). Which
#   servers are in the merged view is data.gateway.scope.view's answer, read here, so what
#   GET /v1/mcp-servers lists and what GET /v1/mcp-servers/{id} shows cannot disagree.
_view := data.gateway.scope.view

# A personal server of the caller: visible, and the owner's actions granted. A create's
# resource is the server as it would be stored, so it is the caller's only if its
# `user_id` is the caller's.
_owns_personal if {
	_authenticated
	input.resource.type == "mcp_server"
	input.resource.source == "personal"
	input.resource.user_id == input.subject.id
}

# An enterprise server in the caller's merged view.
_in_merged_view if {
	_authenticated
	input.resource.type == "mcp_server"
	input.resource.source == "enterprise"
	input.resource.enterprise_id in _view.enterprise_ids
	_feeds_view(input.resource)
}

_feeds_view(server) if server.auto_enabled == true

_feeds_view(_) if _view.auto_enabled_only == false

visible if {
	_authenticated
	input.resource.type == "mcp_server"
	input.resource.source == "personal"
	input.resource.user_id in _view.user_ids
}

visible if _in_merged_view

grant if {
	_owns_personal
	_granted_to("personal_owner")
}

grant if {
	_in_merged_view
	_granted_to("merged_view")
}

_why_not contains {
	"code": "enterprise_managed",
	"message": concat("", [
		_shown(input.resource.id), " is managed by enterprise ", _shown(input.resource.enterprise_id),
		": members cannot change it; owners and admins manage it through /v1/enterprise/mcp-servers",
	]),
} if {
	_in_merged_view
	not _granted_to("merged_view")
}
