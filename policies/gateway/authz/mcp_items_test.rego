package gateway.authz_test

import data.gateway.fixtures_test as f

# METADATA
# title: Tests of resources and prompts through the MCP proxy (resource.read, prompt.get)
# description: |
#   A server's resources and prompts are readable and gettable where its tools are callable:
#   in the caller's view (their own servers, the auto-enabled servers of their enterprises),
#   and nowhere else. A team's `deny` on either action removes the items from the lists and
#   refuses the read or get (tests/mcp_proxy/test_policy_on_items.py, both engines).
#   Run: `opa test policies` (OPA) or `.venv/bin/gateway policy test` (the embedded engine).
_files(server) := f.http_server(server, "https://mcp.example.com/mcp")

test_owner_reads_the_resources_of_their_server if {
	memo := f.resource_of(_files(f.personal_server("mcp_1", "alice")), "memo://hello")
	f.allowed(f.decide("resource.read", f.user("alice"), memo, null))
}

test_member_gets_the_prompts_of_an_auto_enabled_server if {
	greet := f.prompt_of(_files(f.view_server("emcp_1", "ent_1", true)), "greet", {"code": "x"})
	f.allowed(f.decide("prompt.get", f.member_of("bob", "ent_1", "member"), greet, null))
}

test_another_users_resources_and_prompts_are_invisible if {
	server := _files(f.personal_server("mcp_1", "alice"))
	f.invisible(f.decide("resource.read", f.user("bob"), f.resource_of(server, "memo://x"), null))
	f.invisible(f.decide("prompt.get", f.user("bob"), f.prompt_of(server, "greet", null), null))
}

test_a_server_not_in_the_view_lends_no_prompts if {
	# Not auto-enabled: in the enterprise's approved list, not in its members' view.
	greet := f.prompt_of(_files(f.view_server("emcp_1", "ent_1", false)), "greet", null)
	f.invisible(f.decide("prompt.get", f.member_of("bob", "ent_1", "member"), greet, null))
}

test_an_unauthenticated_caller_reads_nothing if {
	memo := f.resource_of(_files(f.personal_server("mcp_1", "alice")), "memo://hello")
	not f.decide("resource.read", f.anonymous("alice"), memo, null).allow
}
