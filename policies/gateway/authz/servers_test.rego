package gateway.authz_test

import data.gateway.fixtures_test as f

# --- personal servers ---------------------------------------------------------------------

# METADATA
# title: Tests of MCP servers through /v1/mcp-servers (servers.rego)
# description: |
#   An owner does everything with their personal servers, which nobody else sees; a member
#   reads and launches the auto-enabled servers of their enterprises, and changes none.
#   Run: `opa test policies` (OPA) or `.venv/bin/gateway policy test` (the embedded engine).
test_owner_may_do_everything_with_their_server if {
	every action in [
		"mcp_server.read", "mcp_server.update", "mcp_server.delete", "mcp_server.launch",
		"mcp_server.credentials.set", "mcp_server.credentials.delete",
	] {
		f.allowed(f.decide(action, f.user("alice"), f.personal_server("mcp_1", "alice"), null))
	}
}

test_another_users_server_is_invisible if {
	every action in ["mcp_server.read", "mcp_server.delete", "mcp_server.credentials.set"] {
		f.invisible(f.decide(action, f.user("bob"), f.personal_server("mcp_1", "alice"), null))
	}
}

test_a_missing_server_is_invisible if {
	missing := {"type": "mcp_server", "id": "mcp_9", "exists": false}
	f.invisible(f.decide("mcp_server.read", f.user("bob"), missing, null))
}

test_a_user_creates_servers_only_for_themself if {
	mine := f.personal_server("mcp_new", "alice")
	f.allowed(f.decide("mcp_server.create", f.user("alice"), mine, mine))
	theirs := f.personal_server("mcp_new", "bob")
	not f.decide("mcp_server.create", f.user("alice"), theirs, theirs).allow
}

# --- enterprise servers through the merged view ---------------------------------------------

test_member_reads_and_launches_an_auto_enabled_server if {
	every action in ["mcp_server.read", "mcp_server.launch"] {
		f.allowed(f.decide(action, f.member_of("bob", "ent_1", "member"), f.view_server("emcp_1", "ent_1", true), null))
	}
}

test_nobody_changes_an_enterprise_server_through_the_view if {
	every role in ["member", "admin", "owner"] {
		d := f.decide(
			"mcp_server.delete", f.member_of("bob", "ent_1", role),
			f.view_server("emcp_1", "ent_1", true), null,
		)
		f.refused(d, {"enterprise_managed"})
	}
}

test_enterprise_managed_names_the_place_to_manage_it if {
	d := f.decide(
		"mcp_server.update", f.member_of("bob", "ent_1", "member"),
		f.view_server("emcp_1", "ent_1", true), null,
	)
	d.reasons == {{
		"code": "enterprise_managed",
		"message": concat("", [
			"emcp_1 is managed by enterprise ent_1: members cannot change it; ",
			"owners and admins manage it through /v1/enterprise/mcp-servers",
		]),
	}}
}

test_a_server_not_auto_enabled_is_not_in_the_view if {
	f.invisible(f.decide(
		"mcp_server.read", f.member_of("bob", "ent_1", "member"),
		f.view_server("emcp_1", "ent_1", false), null,
	))
}

test_outsider_does_not_see_enterprise_servers if {
	f.invisible(f.decide("mcp_server.read", f.user("dave"), f.view_server("emcp_1", "ent_1", true), null))
	f.invisible(f.decide(
		"mcp_server.read", f.member_of("dave", "ent_2", "owner"),
		f.view_server("emcp_1", "ent_1", true), null,
	))
}

test_a_service_is_a_user_with_no_memberships if {
	# A client-credentials token: its own servers, nothing of any enterprise.
	own := f.personal_server("mcp_1", "billing-app")
	f.allowed(f.decide("mcp_server.read", f.service("billing-app"), own, null))
	f.invisible(f.decide("mcp_server.read", f.service("billing-app"), f.view_server("emcp_1", "ent_1", true), null))
}
