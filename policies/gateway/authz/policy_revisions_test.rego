package gateway.authz_test

import data.gateway.fixtures_test as f

# METADATA
# title: Tests of who reads the policy's status (policy_revisions.rego)
# description: |
#   An auditor reads which revision runs and what was refused; an enterprise owner, a user
#   and an anonymous caller do not.
#   Run: `opa test policies` (OPA) or `.venv/bin/gateway policy test` (the embedded engine).
test_an_auditor_reads_the_policy_status if {
	auditor := f.with_roles(f.user("ann"), ["auditor"])
	f.allowed(f.decide("policy.read", auditor, _revision, null))
}

test_an_enterprise_owner_does_not if {
	f.refused(f.decide("policy.read", f.member_of("alice", "ent_1", "owner"), _revision, null), {"not_permitted"})
}

test_a_user_with_no_role_does_not if {
	f.refused(f.decide("policy.read", f.user("dave"), _revision, null), {"not_permitted"})
}

test_a_role_that_reads_the_log_does_not_read_the_policy_by_that_alone if {
	reader := f.with_roles(f.user("ann"), ["log_reader"])
	roles := {"log_reader": ["audit.read"]}
	d := f.decide("policy.read", reader, _revision, null) with data.gateway.platform_role_actions as roles
	f.refused(d, {"not_permitted"})
}

_revision := {"type": "policy", "id": "db79c02d3398e512"}
