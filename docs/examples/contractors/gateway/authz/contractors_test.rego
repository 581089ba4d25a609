package gateway.authz_test

import data.gateway.fixtures_test as f

# METADATA
# title: Tests of the example, contractors by their token's groups claim
# description: |
#   Someone whose `groups` claim names a contractors group is refused stdio servers and
#   destructive tools, named; others, and the same person's other actions, are not concerned.
#   Run: `opa test policies docs/examples/contractors` (OPA), or copy the example's gateway/
#   over a copy of policies/gateway/ and run `.venv/bin/gateway policy test <the copy>`.
_contractor := f.with_claims(f.user("carl"), {"groups": ["staff", "contractors"]})

_stdio_server := f.personal_server(null, "carl")

test_a_contractor_adds_no_stdio_server if {
	d := f.decide("mcp_server.create", _contractor, _stdio_server, _stdio_server)
	f.refused(d, {"contractors_no_stdio"})
}

test_a_contractor_adds_http_servers if {
	remote := f.http_server(_stdio_server, "https://mcp.example.com/mcp")
	f.allowed(f.decide("mcp_server.create", _contractor, remote, remote))
}

test_a_contractor_calls_no_destructive_tool if {
	server := f.http_server(f.personal_server("mcp_1", "carl"), "https://mcp.example.com/mcp")
	tool := object.union(f.tool_of(server, "delete_repo", false, null), {"tool": {"annotations": {
		"title": null, "read_only_hint": false, "destructive_hint": true,
		"idempotent_hint": null, "open_world_hint": null,
	}}})
	f.refused(f.decide("tool.call", _contractor, tool, null), {"contractors_no_destructive_tools"})
}

test_without_the_claim_nothing_changes if {
	f.allowed(f.decide("mcp_server.create", f.user("carl"), _stdio_server, _stdio_server))
	staff := f.with_claims(f.user("carl"), {"groups": ["staff"]})
	f.allowed(f.decide("mcp_server.create", staff, _stdio_server, _stdio_server))
}
