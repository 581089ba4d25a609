package gateway.authz_test

import data.gateway.fixtures_test as f

# METADATA
# title: Tests of the quotas (quotas.rego)
# description: |
#   Each quota of data.gateway.quotas refuses the action that would pass it, with
#   `quota_exceeded` naming the limit; below it, or with no count sent, nothing is refused.
#   Run: `opa test policies` (OPA) or `.venv/bin/gateway policy test` (the embedded engine).
_quota := "quota_exceeded"

test_a_personal_server_under_the_quota_is_created if {
	s := f.personal_server(null, "alice")
	d := f.decide_counting("mcp_server.create", f.user("alice"), s, s, {"personal_servers": 499})
	f.allowed(d)
}

test_a_personal_server_past_the_quota_is_refused if {
	s := f.personal_server(null, "alice")
	d := f.decide_counting("mcp_server.create", f.user("alice"), s, s, {"personal_servers": 500})
	f.refused(d, {_quota})
	d.reasons == {{"code": _quota, "message": "quota exceeded: at most 500 personal servers per user"}}
}

test_a_quota_follows_its_data if {
	s := f.personal_server(null, "alice")
	quotas := {"personal_servers_per_user": 3}
	counts := {"personal_servers": 3}
	d := f.decide_counting("mcp_server.create", f.user("alice"), s, s, counts) with data.gateway.quotas as quotas
	f.refused(d, {_quota})
}

test_without_a_count_no_personal_quota_applies if {
	s := f.personal_server(null, "alice")
	d := f.decide_counting("mcp_server.create", f.user("alice"), s, s, {})
	f.allowed(d)
}

test_an_enterprise_at_its_server_quota_gets_no_more if {
	s := f.enterprise_server(null, "ent_1", false)
	admin := f.member_of("carol", "ent_1", "admin")
	f.allowed(f.decide_counting("enterprise_server.create", admin, s, s, {"enterprise_servers": 999}))
	f.refused(f.decide_counting("enterprise_server.create", admin, s, s, {"enterprise_servers": 1000}), {_quota})
}

test_an_enterprise_at_its_seat_quota_invites_nobody if {
	nobody := f.member("ent_1", "bob", null, null, 1)
	invited := object.union(nobody, {"role": "member", "status": "invited"})
	admin := f.member_of("carol", "ent_1", "admin")
	f.allowed(f.decide_counting("enterprise.members.invite", admin, nobody, invited, {"enterprise_seats": 4999}))
	f.refused(f.decide_counting("enterprise.members.invite", admin, nobody, invited, {"enterprise_seats": 5000}), {_quota})
}

test_a_user_in_the_most_enterprises_joins_no_more if {
	many := object.union(f.user("bob"), {"memberships": {id: f.membership("member") |
		some i in numbers.range(1, 100)
		id := concat("", ["ent_", format_int(i, 10)])
	}})
	invitation := f.invitation("ent_x", "bob", "member")
	d := f.decide("invitation.accept", many, invitation, null)
	f.refused(d, {_quota})
}

test_a_user_owning_the_most_organizations_creates_no_more if {
	owner := object.union(f.user("alice"), {"memberships": {id: f.membership("owner") |
		some i in numbers.range(1, 20)
		id := concat("", ["ent_", format_int(i, 10)])
	}})
	ent := f.enterprise(null, "organization")
	f.refused(f.decide("enterprise.create", owner, ent, ent), {_quota})
}
