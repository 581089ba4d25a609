package gateway.authz_test

import data.gateway.fixtures_test as f

# METADATA
# title: Tests of tool calls through the MCP proxy (tool.call)
# description: |
#   A tool is callable where its server is in the caller's view: their own servers and the
#   auto-enabled servers of their enterprises, and nowhere else.
#   Run: `opa test policies` (OPA) or `.venv/bin/gateway policy test` (the embedded engine).
_http(server) := f.http_server(server, "https://mcp.example.com/mcp")

test_owner_may_call_the_tools_of_their_server if {
	tool := f.tool_of(_http(f.personal_server("mcp_1", "alice")), "delete", false, {"path": "/x"})
	f.allowed(f.decide("tool.call", f.user("alice"), tool, null))
}

test_member_may_call_the_tools_of_an_auto_enabled_server if {
	tool := f.tool_of(_http(f.view_server("emcp_1", "ent_1", true)), "read", true, null)
	f.allowed(f.decide("tool.call", f.member_of("bob", "ent_1", "member"), tool, null))
}

test_another_users_tools_are_invisible if {
	tool := f.tool_of(_http(f.personal_server("mcp_1", "alice")), "read", true, null)
	f.invisible(f.decide("tool.call", f.user("bob"), tool, null))
}

test_a_server_outside_the_view_has_no_callable_tools if {
	# Not auto-enabled: in the enterprise's approved list, not in its members' view.
	tool := f.tool_of(_http(f.view_server("emcp_1", "ent_1", false)), "read", true, null)
	f.invisible(f.decide("tool.call", f.member_of("bob", "ent_1", "member"), tool, null))
	other := f.tool_of(_http(f.view_server("emcp_2", "ent_2", true)), "read", true, null)
	f.invisible(f.decide("tool.call", f.member_of("bob", "ent_1", "member"), other, null))
}

test_an_unauthenticated_caller_calls_nothing if {
	tool := f.tool_of(_http(f.personal_server("mcp_1", "alice")), "read", true, null)
	not f.decide("tool.call", f.anonymous("alice"), tool, null).allow
}

test_tool_call_is_granted_only_on_servers if {
	tool := object.union(f.enterprise_server("emcp_1", "ent_1", true), {"tool": {"name": "read"}})
	not f.decide("tool.call", f.member_of("bob", "ent_1", "owner"), tool, null).allow
}
