package gateway.authz_test

import data.gateway.fixtures_test as f

# METADATA
# title: Tests of who reads the decision log (audit.rego)
# description: |
#   An auditor reads every enterprise's records; an enterprise's owners and admins read
#   theirs, not another's nor the whole log; members and other users are refused.
#   Run: `opa test policies` (OPA) or `.venv/bin/gateway policy test` (the embedded engine).
test_an_auditor_reads_every_enterprises_records if {
	auditor := f.with_roles(f.user("ann"), ["auditor"])
	f.allowed(f.decide("audit.read", auditor, f.audit_log("ent_1"), null))
	f.allowed(f.decide("audit.read", auditor, f.audit_log(null), null))
}

test_owners_and_admins_read_their_enterprises_records if {
	f.allowed(f.decide("audit.read", f.member_of("alice", "ent_1", "owner"), f.audit_log("ent_1"), null))
	f.allowed(f.decide("audit.read", f.member_of("carol", "ent_1", "admin"), f.audit_log("ent_1"), null))
}

test_an_admin_does_not_read_another_enterprises_records if {
	admin := f.member_of("carol", "ent_1", "admin")
	f.refused(f.decide("audit.read", admin, f.audit_log("ent_2"), null), {"not_permitted"})
}

test_an_admin_does_not_read_the_whole_log if {
	admin := f.member_of("carol", "ent_1", "admin")
	f.refused(f.decide("audit.read", admin, f.audit_log(null), null), {"not_permitted"})
}

test_a_member_is_refused_for_want_of_a_role if {
	member := f.member_of("bob", "ent_1", "member")
	f.refused(f.decide("audit.read", member, f.audit_log("ent_1"), null), {"role_required"})
}

test_a_user_with_no_role_is_refused if {
	f.refused(f.decide("audit.read", f.user("dave"), f.audit_log(null), null), {"not_permitted"})
}
