package gateway.authz

# METADATA
# title: HTTP servers only on allow-listed hosts
# description: |
#   A ban added to package gateway.authz, the worked example of docs/policies.md: copy
#   docs/examples/allowed-hosts/gateway/ over policies/gateway/. Judged on `input.proposed`,
#   the server as it would be stored: so a create, a PATCH that moves a server to another
#   URL and a marketplace install are all refused alike, and the listings page shows the
#   refusal before anyone tries. The allow-list is data (data.gateway.allowed_hosts). This
#   block is on the rule, not the package: decision.rego holds the package's one.
deny contains {
	"code": "host_not_allowed",
	"message": concat("", [
		_allowed_hosts_host(input.proposed.url),
		" is not on the allow-list of MCP server hosts",
	]),
} if {
	input.proposed.transport in {"streamable_http", "sse"}
	not _allowed_hosts_ok(_allowed_hosts_host(input.proposed.url))
}

# The host of an absolute URL, lower-cased, without user info, port or IPv6 brackets.
# (No `urls`/`net` builtins: the same file must run on OPA and on rego-cpp.)
_allowed_hosts_host(url) := lower(host) if {
	authority := split(url, "/")[2]
	after_user := split(authority, "@")
	hostport := after_user[count(after_user) - 1]
	host := _allowed_hosts_strip_port(hostport)
}

_allowed_hosts_strip_port(hostport) := trim_prefix(split(hostport, "]")[0], "[") if {
	startswith(hostport, "[")
} else := split(hostport, ":")[0]

_allowed_hosts_ok(host) if host in data.gateway.allowed_hosts.hosts

_allowed_hosts_ok(host) if {
	some suffix in data.gateway.allowed_hosts.suffixes
	endswith(host, suffix)
}
