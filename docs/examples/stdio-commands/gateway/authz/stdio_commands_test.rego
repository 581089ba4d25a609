package gateway.authz_test

import data.gateway.fixtures_test as f

# METADATA
# title: Tests of the example, the gateway runs only listed commands
# description: |
#   A listed command runs; anything else is refused, named; other actions are not concerned.
#   Run with the shipped policy and fixtures: `opa test policies docs/examples/stdio-commands`.
_with_command(command) := object.union(
	f.personal_server("mcp_1", "alice"),
	{"command": command, "sandbox": {"egress": false}},
)

test_a_listed_command_runs if {
	f.allowed(f.decide("mcp_server.run", f.user("alice"), _with_command("/usr/bin/python3"), null))
}

test_another_command_is_refused_and_named if {
	d := f.decide("mcp_server.run", f.user("alice"), _with_command("/bin/sh"), null)
	f.refused(d, {"command_not_allowed"})
	d.reasons == {{
		"code": "command_not_allowed",
		"message": "the gateway runs only /usr/bin/node, /usr/bin/python3, npx, uvx; not /bin/sh",
	}}
}

test_other_actions_are_not_concerned if {
	f.allowed(f.decide("mcp_server.launch", f.user("alice"), _with_command("/bin/sh"), null))
}
