package gateway.authz

# METADATA
# title: Enterprise servers run on the gateway only, for members
# description: |
#   A ban added to package gateway.authz (docs/stdio-hosting.md): copy
#   docs/examples/hosted-only/gateway/ over policies/gateway/. In the enterprises listed in
#   data.gateway.hosted_only.enterprises, a member (not an owner or admin) is refused
#   `mcp_server.launch` of an enterprise server, so the enterprise's credentials are never
#   handed to a member's machine: the gateway runs the server (`mcp_server.run`, which this
#   leaves alone) and the member uses its tools through /mcp, every call decided and logged.
#   This block is on the rule, not the package: decision.rego holds the package's one.
deny contains {
	"code": "hosted_only",
	"message": concat("", [
		_shown(input.resource.id), " of enterprise ", _shown(input.resource.enterprise_id),
		" runs on the gateway only: use its tools through /mcp",
	]),
} if {
	input.action == "mcp_server.launch"
	input.resource.source == "enterprise"
	input.resource.enterprise_id in data.gateway.hosted_only.enterprises
	input.subject.memberships[input.resource.enterprise_id].role == "member"
}
