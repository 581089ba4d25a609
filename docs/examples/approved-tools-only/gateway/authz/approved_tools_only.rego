package gateway.authz

# METADATA
# title: Only tools a person approved, on the servers of some enterprises
# description: |
#   A ban added to package gateway.authz (docs/adr/0057-tool-integrity.md): copy
#   docs/examples/approved-tools-only/gateway/ over policies/gateway/. The shipped policy
#   trusts a tool on first use; for the servers of an enterprise listed in
#   data.gateway.approved_tools_only.enterprises, a tool no person approved yet
#   (`input.resource.tool.pinned_by` null: pinned on first sight, or never listed) is
#   hidden and refused until an owner or admin approves its pin (GET
#   /v1/mcp-servers/{id}/tool-pins, then POST .../tool-pins/{tool}/approve with its
#   fingerprint).
deny contains {
	"code": "tool_not_approved",
	"message": concat("", [
		"tool ", _shown(input.resource.tool.name), " of MCP server ", _shown(input.resource.id),
		" is not approved yet: an owner or admin of ", input.resource.enterprise_id,
		" approves it at /v1/mcp-servers/", _shown(input.resource.id), "/tool-pins",
	]),
} if {
	input.action == "tool.call"
	input.resource.enterprise_id in data.gateway.approved_tools_only.enterprises
	not is_string(input.resource.tool.pinned_by)
}
