package gateway.authz_test

import data.gateway.fixtures_test as f

_ro_tool(read_only) := object.union(
	f.http_server(f.personal_server("mcp_1", "bob"), "https://mcp.example.com/mcp"),
	{"tool": {
		"name": "write_file", "title": null, "description": "",
		"annotations": {
			"title": null, "read_only_hint": read_only, "destructive_hint": null,
			"idempotent_hint": null, "open_world_hint": null,
		},
		"arguments": null,
	}},
)

test_members_of_a_listed_enterprise_get_read_only_tools if {
	f.allowed(f.decide("tool.call", f.member_of("bob", "ent_readonly", "member"), _ro_tool(true), null))
}

test_members_of_a_listed_enterprise_lose_other_tools if {
	d := f.decide("tool.call", f.member_of("bob", "ent_readonly", "member"), _ro_tool(false), null)
	f.refused(d, {"read_only_tools"})
	d.reasons == {{
		"code": "read_only_tools",
		"message": "members of ent_readonly may call read-only tools only; write_file is not marked read-only",
	}}
	unmarked := f.decide("tool.call", f.member_of("bob", "ent_readonly", "member"), _ro_tool(null), null)
	f.refused(unmarked, {"read_only_tools"})
}

test_others_keep_every_tool if {
	f.allowed(f.decide("tool.call", f.member_of("bob", "ent_other", "member"), _ro_tool(false), null))
	f.allowed(f.decide("tool.call", f.user("bob"), _ro_tool(false), null))
}

test_other_actions_are_not_concerned if {
	server := f.personal_server("mcp_1", "bob")
	f.allowed(f.decide("mcp_server.read", f.member_of("bob", "ent_readonly", "member"), server, null))
}
