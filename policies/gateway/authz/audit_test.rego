package gateway.authz_test

import data.gateway.fixtures_test as f

test_an_auditor_reads_every_enterprises_records if {
	auditor := f.with_roles(f.user("ann"), ["auditor"])
	f.allowed(f.decide("audit.read", auditor, f.audit_log("ent_1"), null))
	f.allowed(f.decide("audit.read", auditor, f.audit_log(null), null))
}

test_owners_and_admins_read_their_enterprises_records if {
	f.allowed(f.decide("audit.read", f.member_of("alice", "ent_1", "owner"), f.audit_log("ent_1"), null))
	f.allowed(f.decide("audit.read", f.member_of("carol", "ent_1", "admin"), f.audit_log("ent_1"), null))
}

test_but_not_another_enterprises if {
	f.refused(
		f.decide(
			"audit.read", f.member_of("carol", "ent_1", "admin"),
			f.audit_log("ent_2"), null,
		),
		{"not_permitted"},
	)
	not f.decide("audit.read", f.member_of("carol", "ent_1", "admin"), f.audit_log(null), null).allow
}

test_members_and_plain_users_are_refused if {
	f.refused(
		f.decide(
			"audit.read", f.member_of("bob", "ent_1", "member"),
			f.audit_log("ent_1"), null,
		),
		{"role_required"},
	)
	f.refused(f.decide("audit.read", f.user("dave"), f.audit_log(null), null), {"not_permitted"})
}
