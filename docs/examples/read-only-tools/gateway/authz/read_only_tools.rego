package gateway.authz

# METADATA
# title: Read-only tools only, for the members of some enterprises
# description: |
#   A ban added to package gateway.authz (docs/mcp-proxy.md): copy
#   docs/examples/read-only-tools/gateway/ over policies/gateway/. A member of an enterprise
#   listed in data.gateway.read_only_tools.enterprises sees, through the MCP proxy, only the
#   tools whose server says `readOnlyHint: true`: the others disappear from tools/list and a
#   call of one is refused. The hint is the upstream server's word about its own tool, so
#   this trusts the servers the view lets in (an enterprise approved them); a rule on
#   `input.resource.tool.arguments` constrains a call itself. This block is on the rule, not
#   the package: decision.rego holds the package's one.
deny contains {
	"code": "read_only_tools",
	"message": concat("", [
		"members of ", _read_only_tools_enterprise, " may call read-only tools only; ",
		_shown(input.resource.tool.name), " is not marked read-only",
	]),
} if {
	input.action == "tool.call"
	not input.resource.tool.annotations.read_only_hint == true
}

# The first listed enterprise the caller belongs to (the rule applies if there is one).
_read_only_tools_enterprise := min({ent |
	some ent in data.gateway.read_only_tools.enterprises
	input.subject.memberships[ent]
})
