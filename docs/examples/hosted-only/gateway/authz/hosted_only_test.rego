package gateway.authz_test

import data.gateway.fixtures_test as f

# METADATA
# title: Tests of the example, enterprise servers run on the gateway only, for members
# description: |
#   Members are refused the launch of an enterprise server and may still have it run by the
#   gateway; owners and admins, and everyone's personal servers, launch as before. Run with
#   the shipped policy and fixtures: `opa test policies docs/examples/hosted-only` (OPA), or
#   copy the example's gateway/ over a copy of policies/gateway/ and run
#   `.venv/bin/gateway policy test <the copy>`.
_shared := f.view_server("emcp_1", "ent_hosted", true)

test_a_member_may_not_launch_an_enterprise_server if {
	d := f.decide("mcp_server.launch", f.member_of("bob", "ent_hosted", "member"), _shared, null)
	f.refused(d, {"hosted_only"})
	d.reasons == {{
		"code": "hosted_only",
		"message": "emcp_1 of enterprise ent_hosted runs on the gateway only: use its tools through /mcp",
	}}
}

test_a_member_may_still_have_it_run_by_the_gateway if {
	server := object.union(_shared, {"sandbox": {"egress": false}})
	f.allowed(f.decide("mcp_server.run", f.member_of("bob", "ent_hosted", "member"), server, null))
}

test_owners_and_admins_still_launch if {
	f.allowed(f.decide("mcp_server.launch", f.member_of("alice", "ent_hosted", "owner"), _shared, null))
	f.allowed(f.decide("mcp_server.launch", f.member_of("carl", "ent_hosted", "admin"), _shared, null))
}

test_other_enterprises_are_not_concerned if {
	other := f.view_server("emcp_2", "ent_other", true)
	f.allowed(f.decide("mcp_server.launch", f.member_of("bob", "ent_other", "member"), other, null))
}

test_personal_servers_still_launch if {
	server := f.personal_server("mcp_1", "bob")
	f.allowed(f.decide("mcp_server.launch", f.member_of("bob", "ent_hosted", "member"), server, null))
}
