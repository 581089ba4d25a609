package gateway.authz_test

import data.gateway.fixtures_test as f

# METADATA
# title: Tests of hosted stdio servers (mcp_server.run)
# description: |
#   The gateway runs the stdio servers of the caller's view, without network unless a rule
#   grants egress; nothing else, and nobody else's.
#   Run: `opa test policies` (OPA) or `.venv/bin/gateway policy test` (the embedded engine).
_run(server, egress) := object.union(server, {"sandbox": {"egress": egress}})

test_owner_may_run_their_stdio_server_without_egress if {
	f.allowed(f.decide("mcp_server.run", f.user("alice"), _run(f.personal_server("mcp_1", "alice"), false), null))
}

test_member_may_run_an_auto_enabled_enterprise_server_without_egress if {
	server := _run(f.view_server("emcp_1", "ent_1", true), false)
	f.allowed(f.decide("mcp_server.run", f.member_of("bob", "ent_1", "member"), server, null))
}

test_egress_is_refused_unless_granted if {
	d := f.decide("mcp_server.run", f.user("alice"), _run(f.personal_server("mcp_1", "alice"), true), null)
	f.refused(d, {"egress_not_granted"})
}

test_egress_granted_to_a_server if {
	server := _run(f.personal_server("mcp_1", "alice"), true)
	grant := {"server_ids": ["mcp_1"], "enterprise_ids": []}
	f.allowed(f.decide("mcp_server.run", f.user("alice"), server, null)) with data.gateway.stdio_hosting.egress as grant
}

test_egress_granted_to_an_enterprise if {
	server := _run(f.view_server("emcp_1", "ent_1", true), true)
	grant := {"server_ids": [], "enterprise_ids": ["ent_1"]}
	member := f.member_of("bob", "ent_1", "member")
	f.allowed(f.decide("mcp_server.run", member, server, null)) with data.gateway.stdio_hosting.egress as grant
	other := _run(f.view_server("emcp_2", "ent_2", true), true)
	f.refused(
		f.decide("mcp_server.run", f.member_of("bob", "ent_2", "member"), other, null),
		{"egress_not_granted"},
	) with data.gateway.stdio_hosting.egress as grant
}

test_another_users_server_is_not_run if {
	f.invisible(f.decide("mcp_server.run", f.user("bob"), _run(f.personal_server("mcp_1", "alice"), false), null))
}

test_a_server_outside_the_view_is_not_run if {
	server := _run(f.view_server("emcp_1", "ent_1", false), false)
	f.invisible(f.decide("mcp_server.run", f.member_of("bob", "ent_1", "member"), server, null))
}

test_an_http_server_is_not_run if {
	server := _run(f.http_server(f.personal_server("mcp_1", "alice"), "https://mcp.example.com/mcp"), false)
	f.refused(f.decide("mcp_server.run", f.user("alice"), server, null), {"not_a_stdio_server"})
}

test_a_run_without_the_sandbox_is_refused if {
	d := f.decide("mcp_server.run", f.user("alice"), f.personal_server("mcp_1", "alice"), null)
	f.refused(d, {"sandbox_unspecified"})
}

test_an_unauthenticated_caller_runs_nothing if {
	server := _run(f.personal_server("mcp_1", "alice"), false)
	not f.decide("mcp_server.run", f.anonymous("alice"), server, null).allow
}
