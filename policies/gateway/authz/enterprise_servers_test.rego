package gateway.authz_test

import data.gateway.fixtures_test as f

# METADATA
# title: Tests of an enterprise's approved servers (enterprise_servers.rego)
# description: |
#   Admins write the approved list and may make a server mandatory; only an owner takes a
#   mandatory server away; members read; another enterprise's admin sees nothing.
#   Run: `opa test policies` (OPA) or `.venv/bin/gateway policy test` (the embedded engine).
test_admin_writes_the_approved_list if {
	every action in [
		"enterprise_server.create", "enterprise_server.update", "enterprise_server.delete",
		"enterprise_server.credentials.set", "enterprise_server.credentials.delete",
	] {
		server := f.enterprise_server("emcp_1", "ent_1", false)
		f.allowed(f.decide(action, f.member_of("carol", "ent_1", "admin"), server, server))
	}
}

test_admin_may_make_a_server_mandatory if {
	server := f.enterprise_server("emcp_1", "ent_1", true)
	f.allowed(f.decide("enterprise_server.create", f.member_of("carol", "ent_1", "admin"), server, server))
	before := f.enterprise_server("emcp_1", "ent_1", false)
	f.allowed(f.decide("enterprise_server.update", f.member_of("carol", "ent_1", "admin"), before, server))
}

test_only_an_owner_takes_a_mandatory_server_away if {
	mandatory := f.enterprise_server("emcp_1", "ent_1", true)
	optional := f.enterprise_server("emcp_1", "ent_1", false)
	admin := f.member_of("carol", "ent_1", "admin")
	f.refused(f.decide("enterprise_server.delete", admin, mandatory, null), {"owner_required"})
	f.refused(f.decide("enterprise_server.update", admin, mandatory, optional), {"owner_required"})
	owner := f.member_of("alice", "ent_1", "owner")
	f.allowed(f.decide("enterprise_server.delete", owner, mandatory, null))
	f.allowed(f.decide("enterprise_server.update", owner, mandatory, optional))
}

test_admin_may_still_edit_a_mandatory_server if {
	mandatory := f.enterprise_server("emcp_1", "ent_1", true)
	renamed := f.with_fields(mandatory, {"name": "files v2"})
	f.allowed(f.decide("enterprise_server.update", f.member_of("carol", "ent_1", "admin"), mandatory, renamed))
}

test_member_reads_but_does_not_write if {
	server := f.enterprise_server("emcp_1", "ent_1", false)
	f.allowed(f.decide("enterprise_server.read", f.member_of("bob", "ent_1", "member"), server, null))
	d := f.decide("enterprise_server.create", f.member_of("bob", "ent_1", "member"), server, server)
	f.refused(d, {"role_required"})
	d.reasons == {{
		"code": "role_required",
		"message": "enterprise_server.create needs one of the roles admin, owner in enterprise ent_1; your role is member",
	}}
}

test_admin_of_another_enterprise_sees_nothing if {
	server := f.enterprise_server("emcp_1", "ent_1", false)
	f.invisible(f.decide("enterprise_server.read", f.member_of("carol", "ent_2", "admin"), server, null))
}
