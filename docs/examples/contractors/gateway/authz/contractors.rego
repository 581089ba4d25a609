package gateway.authz

# METADATA
# scope: rule
# title: Contractors install no stdio servers and call no destructive tools
# description: |
#   A ban on an identity attribute (docs/mcp-clients.md, "Identity attributes"): with
#   GATEWAY_JWT_CLAIMS=groups, a token's `groups` claim reaches the policy as
#   `input.subject.claims.groups`. Someone in a group listed in
#   data.gateway.contractors.groups may not create or install a server the gateway would run
#   as a local command (`stdio`), and may not call a tool its server marks destructive.
#   Copy docs/examples/contractors/gateway/ over policies/gateway/. This block is on the rule,
#   not the package: decision.rego holds the package's one.
deny contains {
	"code": "contractors_no_stdio",
	"message": "contractors may not add servers that run a local command",
} if {
	_contractors_group
	input.action in {"mcp_server.create", "marketplace.install"}
	input.proposed.transport == "stdio"
}

deny contains {
	"code": "contractors_no_destructive_tools",
	"message": concat("", ["contractors may not call ", input.resource.tool.name, ": it is destructive"]),
} if {
	_contractors_group
	input.action == "tool.call"
	input.resource.tool.annotations.destructive_hint == true
}

# The caller is in one of the listed groups (a claim the token may not carry at all).
_contractors_group if {
	some group in input.subject.claims.groups
	group in data.gateway.contractors.groups
}
