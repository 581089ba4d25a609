package gateway.authz

# METADATA
# title: Pinned tool definitions (tool.call, tool_pin.read, tool_pin.approve)
# description: |
#   Rules of package gateway.authz (described in decision.rego) for tool integrity
#   (docs/adr/0057-tool-integrity.md). The gateway pins each tool of a server the first time
#   it lists it (`input.resource.tool.pinned` is null then: trust on first use) and sends the
#   pinned fingerprint and the one the upstream serves now. A tool whose definition changed
#   since it was pinned is refused (`tool_changed`) and hidden from tools/list, until its
#   server's owner (personal) or the enterprise's owners and admins (enterprise server)
#   approve the change (`tool_pin.approve`). Every member of the view may read the pins.
grant if {
	_in_merged_view
	_role_allows
}

deny contains {
	"code": "tool_changed",
	"message": concat("", [
		"tool ", _shown(input.resource.tool.name), " of MCP server ", _shown(input.resource.id),
		" changed since it was pinned (", concat(", ", _changed_fields), "): ",
		_approver, " must approve it: POST /v1/mcp-servers/", _shown(input.resource.id),
		"/tool-pins/", _shown(input.resource.tool.name), "/approve",
	]),
} if {
	input.action == "tool.call"
	_tool_changed
}

_tool_changed if {
	is_string(input.resource.tool.pinned)
	input.resource.tool.pinned != input.resource.tool.fingerprint
}

# The fields the gateway found changed; "definition" when it named none.
default _changed_fields := ["definition"]

_changed_fields := input.resource.tool.changed if count(input.resource.tool.changed) > 0

_approver := "its owner" if {
	input.resource.source == "personal"
} else := concat("", ["an owner or admin of enterprise ", _shown(input.resource.enterprise_id)])
