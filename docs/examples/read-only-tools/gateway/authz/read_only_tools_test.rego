package gateway.authz_test

import data.gateway.fixtures_test as f

# METADATA
# title: Tests of the example, read-only tools only for the members of some enterprises
# description: |
#   Members of a listed enterprise call read-only tools and are refused the others, named;
#   a tool without the hint counts as not read-only; everyone else keeps every tool, and
#   other actions are not concerned. Run with the shipped policy and fixtures:
#   `opa test policies docs/examples/read-only-tools` (OPA), or copy the example's gateway/
#   over a copy of policies/gateway/ and run `.venv/bin/gateway policy test <the copy>`.
_ro_tool(read_only) := f.tool_of(
	f.http_server(f.personal_server("mcp_1", "bob"), "https://mcp.example.com/mcp"),
	"write_file", read_only, null,
)

test_members_of_a_listed_enterprise_get_read_only_tools if {
	f.allowed(f.decide("tool.call", f.member_of("bob", "ent_readonly", "member"), _ro_tool(true), null))
}

test_members_of_a_listed_enterprise_lose_other_tools if {
	d := f.decide("tool.call", f.member_of("bob", "ent_readonly", "member"), _ro_tool(false), null)
	f.refused(d, {"read_only_tools"})
	d.reasons == {{
		"code": "read_only_tools",
		"message": "members of ent_readonly may call read-only tools only; write_file is not marked read-only",
	}}
}

test_a_tool_without_the_hint_counts_as_not_read_only if {
	d := f.decide("tool.call", f.member_of("bob", "ent_readonly", "member"), _ro_tool(null), null)
	f.refused(d, {"read_only_tools"})
}

test_others_keep_every_tool if {
	f.allowed(f.decide("tool.call", f.member_of("bob", "ent_other", "member"), _ro_tool(false), null))
	f.allowed(f.decide("tool.call", f.user("bob"), _ro_tool(false), null))
}

test_other_actions_are_not_concerned if {
	server := f.personal_server("mcp_1", "bob")
	f.allowed(f.decide("mcp_server.read", f.member_of("bob", "ent_readonly", "member"), server, null))
}
