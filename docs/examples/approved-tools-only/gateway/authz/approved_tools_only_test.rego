package gateway.authz_test

import data.gateway.fixtures_test as f

# METADATA
# title: Tests of the example, only tools a person approved
# description: |
#   On a listed enterprise's server a tool pinned on first sight is refused, one a person
#   approved is not; other enterprises keep trust on first use. Run with the shipped policy
#   and fixtures: `opa test policies docs/examples/approved-tools-only`.
_strict_server(ent) := f.http_server(f.view_server("emcp_1", ent, true), "https://mcp.example.com/mcp")

# One level of object.union at a time: rego-cpp's does not merge nested objects.
_strict_tool(ent, pinned_by) := object.union(_strict_server(ent), {"tool": object.union(
	f.tool_of(_strict_server(ent), "read", true, null).tool,
	{"pinned": null, "fingerprint": "aa", "changed": [], "pinned_by": pinned_by},
)})

test_a_tool_no_person_approved_is_refused if {
	d := f.decide("tool.call", f.member_of("bob", "ent_strict", "member"), _strict_tool("ent_strict", null), null)
	f.refused(d, {"tool_not_approved"})
}

test_an_approved_tool_is_not if {
	f.allowed(f.decide("tool.call", f.member_of("bob", "ent_strict", "member"), _strict_tool("ent_strict", "olga"), null))
}

test_other_enterprises_trust_on_first_use if {
	f.allowed(f.decide("tool.call", f.member_of("bob", "ent_other", "member"), _strict_tool("ent_other", null), null))
}
