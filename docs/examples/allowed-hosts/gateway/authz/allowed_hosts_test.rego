package gateway.authz_test

import data.gateway.fixtures_test as f

# METADATA
# title: Tests of the worked example, HTTP servers only on allow-listed hosts
# description: |
#   Listed hosts and suffixes pass, any other host is refused by name on create and on an
#   update that moves a server, user info and ports do not fool the rule, and stdio servers
#   are not concerned. Run with the shipped policy and fixtures:
#   `opa test policies docs/examples/allowed-hosts` (OPA), or copy the example's gateway/
#   over a copy of policies/gateway/ and run `.venv/bin/gateway policy test <the copy>`.
_at(url) := f.http_server(f.personal_server("mcp_1", "alice"), url)

test_an_allow_listed_host_may_be_used if {
	server := _at("https://api.githubcopilot.com/mcp/")
	f.allowed(f.decide("mcp_server.create", f.user("alice"), server, server))
}

test_a_suffix_allows_a_whole_domain if {
	server := _at("https://tools.internal.example.com:8443/mcp")
	f.allowed(f.decide("mcp_server.create", f.user("alice"), server, server))
}

test_another_host_is_refused_with_its_name if {
	server := _at("https://evil.example.net/mcp")
	d := f.decide("mcp_server.create", f.user("alice"), server, server)
	f.refused(d, {"host_not_allowed"})
	d.reasons == {{"code": "host_not_allowed", "message": "evil.example.net is not on the allow-list of MCP server hosts"}}
}

test_user_info_and_ports_do_not_fool_it if {
	server := _at("https://api.githubcopilot.com@evil.example.net:443/mcp")
	f.refused(f.decide("mcp_server.create", f.user("alice"), server, server), {"host_not_allowed"})
	spoof := _at("https://api.githubcopilot.com.evil.example.net/mcp")
	f.refused(f.decide("mcp_server.create", f.user("alice"), spoof, spoof), {"host_not_allowed"})
}

test_a_move_to_another_host_is_refused_on_update if {
	before := _at("https://mcp.sentry.dev/mcp")
	after := _at("http://[::1]:8080/mcp")
	d := f.decide("mcp_server.update", f.user("alice"), before, after)
	d.reasons == {{"code": "host_not_allowed", "message": "::1 is not on the allow-list of MCP server hosts"}}
}

test_stdio_servers_are_not_concerned if {
	server := f.personal_server("mcp_1", "alice")
	f.allowed(f.decide("mcp_server.create", f.user("alice"), server, server))
}
