package gateway.authz_test

import data.gateway.fixtures_test as f

# METADATA
# title: Tests of the example, a person approves each destructive call
# description: |
#   A member of a listed enterprise calling a tool not marked read-only waits for an owner
#   or admin; with the approval allowed the call passes; read-only tools and other callers
#   are not concerned. Run with the shipped policy and fixtures:
#   `opa test policies docs/examples/approve-destructive-tools`.
_destructive_server := f.http_server(f.personal_server("mcp_1", "bob"), "https://mcp.example.com/mcp")

# One level of object.union at a time: rego-cpp's does not merge nested objects.
_destructive_tool(read_only, approval) := object.union(_destructive_server, {"tool": object.union(
	f.tool_of(_destructive_server, "delete_repository", read_only, {"repo": "acme/api"}).tool,
	{"approval": approval},
)})

_destructive_member := f.member_of("bob", "ent_payments", "member")

test_a_destructive_call_waits_for_an_owner_or_admin if {
	d := f.decide("tool.call", _destructive_member, _destructive_tool(false, null), null)
	not d.allow
	d.visible
	f.codes(d) == {"destructive_call"}
	"admin" in d.approval.approvers.roles
	"owner" in d.approval.approvers.roles
	d.approval.ttl_seconds == 600
}

test_an_allowed_approval_lets_it_through if {
	approval := {"id": "apr_1", "state": "allowed", "expired": false, "decided_by": "olga"}
	f.allowed(f.decide("tool.call", _destructive_member, _destructive_tool(false, approval), null))
}

test_read_only_tools_and_others_do_not_wait if {
	f.allowed(f.decide("tool.call", _destructive_member, _destructive_tool(true, null), null))
	f.allowed(f.decide("tool.call", f.user("bob"), _destructive_tool(false, null), null))
}
