package gateway.authz

# METADATA
# title: Hosted stdio servers (mcp_server.run)
# description: |
#   Rules of package gateway.authz (described in decision.rego) for `mcp_server.run`: may the
#   gateway run this stdio server of the caller's view in a sandbox, and with network egress
#   (`input.resource.sandbox.egress`)? The action table grants the run of every server in the
#   view (docs/stdio-hosting.md); these bans keep it to stdio servers, and egress to the servers
#   and enterprises granted it in data.gateway.stdio_hosting.egress. The gateway asks with
#   egress first when it starts a sandbox, then without.
_egress_grants := data.gateway.stdio_hosting.egress

deny contains {
	"code": "not_a_stdio_server",
	"message": concat("", [
		_shown(input.resource.id), " is not a stdio server: only stdio servers are run by the gateway",
	]),
} if {
	input.action == "mcp_server.run"
	input.resource.transport != "stdio"
}

# Fail closed: a run asked without saying whether the sandbox would have network.
deny contains {
	"code": "sandbox_unspecified",
	"message": "mcp_server.run needs resource.sandbox.egress (true or false)",
} if {
	input.action == "mcp_server.run"
	not _sandbox_specified
}

deny contains {
	"code": "egress_not_granted",
	"message": concat("", [
		"network egress is not granted to ", _shown(input.resource.id),
		": its sandbox runs without network unless a rule grants it (data.gateway.stdio_hosting.egress)",
	]),
} if {
	input.action == "mcp_server.run"
	input.resource.sandbox.egress == true
	not _egress_granted
}

_sandbox_specified if is_boolean(input.resource.sandbox.egress)

_egress_granted if input.resource.id in _egress_grants.server_ids

_egress_granted if {
	input.resource.source == "enterprise"
	input.resource.enterprise_id in _egress_grants.enterprise_ids
}
