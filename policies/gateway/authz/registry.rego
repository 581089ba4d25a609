package gateway.authz

# METADATA
# title: The MCP registry (/v0.1) and who sees which of its servers
# description: |
#   Rules of package gateway.authz (described in decision.rego) for `registry.read` on a
#   `registry_entry`: one server the gateway's MCP Registry API could show the caller.
#   `source` says what it is: a marketplace listing (`catalog`), a server of the caller's
#   merged view (`personal`, `enterprise`) or the gateway's own `/mcp` (`gateway`).
#   The registry is open to anonymous callers (registry clients browse before signing in):
#   anyone sees the public catalog; a signed-in caller sees, besides, the servers of their
#   own view and the gateway itself. A member of an enterprise that restricts installs to its
#   approved list sees only the listings every such enterprise approved: the same facts
#   (`approved_by`) and wording as the install restriction in marketplace.rego.
_registry_sees if {
	_granted_to("registry_audience")
	input.resource.source == "catalog"
}

_registry_sees if {
	_granted_to("registry_audience")
	_authenticated
	_in_own_view
}

visible if _registry_sees

grant if _registry_sees

_in_own_view if {
	input.resource.source == "personal"
	input.resource.user_id == input.subject.id
}

_in_own_view if {
	input.resource.source == "enterprise"
	input.subject.memberships[input.resource.enterprise_id]
}

_in_own_view if input.resource.source == "gateway"

deny contains {"code": "install_restricted", "message": message} if {
	input.action == "registry.read"
	input.resource.source == "catalog"
	count(_unapproved(input.resource)) > 0
	message := concat("", [
		_shown(input.resource.listing_id), " is not on the approved list of ",
		concat(", ", _unapproved(input.resource)), "; installs are restricted to approved servers",
	])
}
