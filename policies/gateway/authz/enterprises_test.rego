package gateway.authz_test

import data.gateway.fixtures_test as f

# METADATA
# title: Tests of enterprises (enterprises.rego)
# description: |
#   Any user creates an organization; members read theirs and outsiders see nothing; owners
#   and admins update, owners alone delete, and a personal enterprise is never deleted.
#   Run: `opa test policies` (OPA) or `.venv/bin/gateway policy test` (the embedded engine).
test_any_user_creates_an_organization if {
	new := f.enterprise("ent_new", "organization")
	f.allowed(f.decide("enterprise.create", f.user("alice"), new, new))
}

test_members_read_their_enterprise if {
	f.allowed(f.decide(
		"enterprise.read", f.member_of("bob", "ent_1", "member"),
		f.enterprise("ent_1", "organization"), null,
	))
}

test_an_outsider_does_not_see_an_enterprise if {
	f.invisible(f.decide("enterprise.read", f.user("dave"), f.enterprise("ent_1", "organization"), null))
}

test_owners_and_admins_update if {
	ent := f.enterprise("ent_1", "organization")
	renamed := f.with_fields(ent, {"name": "Acme 2"})
	f.allowed(f.decide("enterprise.update", f.member_of("carol", "ent_1", "admin"), ent, renamed))
	f.refused(f.decide("enterprise.update", f.member_of("bob", "ent_1", "member"), ent, renamed), {"role_required"})
}

test_only_owners_delete if {
	ent := f.enterprise("ent_1", "organization")
	f.allowed(f.decide("enterprise.delete", f.member_of("alice", "ent_1", "owner"), ent, null))
	f.refused(f.decide("enterprise.delete", f.member_of("carol", "ent_1", "admin"), ent, null), {"role_required"})
}

test_a_personal_enterprise_cannot_be_deleted if {
	ent := f.enterprise("ent_p", "personal")
	f.refused(f.decide("enterprise.delete", f.member_of("alice", "ent_p", "owner"), ent, null), {"personal_enterprise"})
}

test_only_owners_and_admins_see_invitations if {
	ent := f.enterprise("ent_1", "organization")
	f.allowed(f.decide("enterprise.invitations.read", f.member_of("carol", "ent_1", "admin"), ent, null))
	not f.decide("enterprise.invitations.read", f.member_of("bob", "ent_1", "member"), ent, null).allow
}
