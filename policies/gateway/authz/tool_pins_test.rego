package gateway.authz_test

import data.gateway.fixtures_test as f

# METADATA
# title: Tests of pinned tool definitions
# description: |
#   A tool whose fingerprint differs from its pin is refused with `tool_changed` naming the
#   changed fields; a tool seen for the first time (no pin yet) or unchanged is not. The
#   owner of a personal server, and an enterprise's owners and admins, may approve a change;
#   a member may not.
#   Run: `opa test policies` (OPA) or `.venv/bin/gateway policy test` (the embedded engine).
_pins_http(server) := f.http_server(server, "https://mcp.example.com/mcp")

_pins_tool(server, pinned, fingerprint, changed) := object.union(server, {"tool": {
	"name": "read",
	"pinned": pinned,
	"fingerprint": fingerprint,
	"changed": changed,
}})

_pins_personal := _pins_http(f.personal_server("mcp_1", "alice"))

_pins_shared := _pins_http(f.view_server("emcp_1", "ent_1", true))

test_a_changed_tool_is_refused_naming_what_changed if {
	tool := _pins_tool(_pins_personal, "aaa", "bbb", ["description"])
	decision := f.decide("tool.call", f.user("alice"), tool, null)
	not decision.allow
	decision.visible
	some reason in decision.reasons
	reason.code == "tool_changed"
	contains(reason.message, "(description)")
	contains(reason.message, "its owner must approve")
	contains(reason.message, "/v1/mcp-servers/mcp_1/tool-pins/read/approve")
}

test_a_changed_enterprise_tool_names_the_enterprise_admins if {
	tool := _pins_tool(_pins_shared, "aaa", "bbb", ["input_schema", "annotations"])
	decision := f.decide("tool.call", f.member_of("bob", "ent_1", "member"), tool, null)
	not decision.allow
	some reason in decision.reasons
	reason.code == "tool_changed"
	contains(reason.message, "(input_schema, annotations)")
	contains(reason.message, "an owner or admin of enterprise ent_1")
}

test_a_tool_seen_first_or_unchanged_is_not_refused if {
	f.allowed(f.decide("tool.call", f.user("alice"), _pins_tool(_pins_personal, null, "bbb", []), null))
	f.allowed(f.decide("tool.call", f.user("alice"), _pins_tool(_pins_personal, "bbb", "bbb", []), null))
}

test_the_owner_approves_a_personal_servers_change if {
	tool := _pins_tool(_pins_personal, "aaa", "bbb", ["description"])
	f.allowed(f.decide("tool_pin.approve", f.user("alice"), tool, null))
	f.invisible(f.decide("tool_pin.approve", f.user("bob"), tool, null))
}

test_enterprise_owners_and_admins_approve_a_member_does_not if {
	tool := _pins_tool(_pins_shared, "aaa", "bbb", ["description"])
	f.allowed(f.decide("tool_pin.approve", f.member_of("carol", "ent_1", "owner"), tool, null))
	f.allowed(f.decide("tool_pin.approve", f.member_of("dave", "ent_1", "admin"), tool, null))
	refused := f.decide("tool_pin.approve", f.member_of("bob", "ent_1", "member"), tool, null)
	not refused.allow
	refused.visible
	some reason in refused.reasons
	reason.code == "role_required"
}

test_every_member_of_the_view_reads_the_pins if {
	f.allowed(f.decide("tool_pin.read", f.member_of("bob", "ent_1", "member"), _pins_shared, null))
	f.allowed(f.decide("tool_pin.read", f.user("alice"), _pins_personal, null))
	f.invisible(f.decide("tool_pin.read", f.user("bob"), _pins_personal, null))
}
