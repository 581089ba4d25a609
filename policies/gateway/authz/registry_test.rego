package gateway.authz_test

import data.gateway.fixtures_test as f

# METADATA
# title: Tests of the MCP registry's audiences (registry.rego)
# description: |
#   Anonymous callers see the public catalog only; signed-in callers see the catalog and
#   their own view; members of an enterprise that restricts installs see only the listings it
#   approved. Run: `opa test policies` (OPA) or `.venv/bin/gateway policy test` (embedded).
_read(subject, entry) := f.decide("registry.read", subject, entry, null)

_listing(id, approved_by) := f.registry_entry("catalog", id, approved_by, null, null)

_gateway := f.registry_entry("gateway", "gateway", [], null, null)

test_anyone_sees_the_catalog if {
	f.allowed(_read(f.anonymous("anonymous"), _listing("time", [])))
	f.allowed(_read(f.user("alice"), _listing("time", [])))
}

test_anonymous_callers_see_no_view_and_not_the_gateway if {
	f.invisible(_read(f.anonymous("alice"), f.registry_entry("personal", "mcp_1", [], "alice", null)))
	f.invisible(_read(f.anonymous("anonymous"), _gateway))
}

test_a_user_sees_their_own_servers_and_the_gateway if {
	f.allowed(_read(f.user("alice"), f.registry_entry("personal", "mcp_1", [], "alice", null)))
	f.allowed(_read(f.user("alice"), _gateway))
}

test_a_user_does_not_see_another_users_server if {
	f.invisible(_read(f.user("bob"), f.registry_entry("personal", "mcp_1", [], "alice", null)))
}

test_members_see_their_enterprises_servers_only if {
	entry := f.registry_entry("enterprise", "emcp_1", [], null, "ent_1")
	f.allowed(_read(f.member_of("bob", "ent_1", "member"), entry))
	f.invisible(_read(f.member_of("bob", "ent_2", "member"), entry))
}

test_a_restricted_member_sees_only_approved_listings if {
	member := f.member_of_restricting("bob", {"ent_1": true})
	f.allowed(_read(member, _listing("time", ["ent_1"])))
	d := _read(member, _listing("github", []))
	f.refused(d, {"install_restricted"})
	d.reasons == {{
		"code": "install_restricted",
		"message": "github is not on the approved list of ent_1; installs are restricted to approved servers",
	}}
}

test_every_restricting_enterprise_must_approve_a_listing if {
	member := f.member_of_restricting("bob", {"ent_1": true, "ent_2": true, "ent_3": false})
	f.refused(_read(member, _listing("time", ["ent_1"])), {"install_restricted"})
	f.allowed(_read(member, _listing("time", ["ent_1", "ent_2"])))
}

test_a_restricted_member_still_sees_their_view if {
	member := f.member_of_restricting("bob", {"ent_1": true})
	f.allowed(_read(member, f.registry_entry("enterprise", "emcp_1", [], null, "ent_1")))
	f.allowed(_read(member, _gateway))
}

test_local_dev_sees_everything if {
	f.allowed(_read(f.local_dev, f.registry_entry("personal", "mcp_1", [], "alice", null)))
}

test_registry_read_grants_nothing_else if {
	not f.decide("marketplace.install", f.anonymous("anonymous"), f.listing("time", []), null).allow
	f.invisible(f.decide("mcp_server.read", f.anonymous("alice"), f.personal_server("mcp_1", "alice"), null))
}
