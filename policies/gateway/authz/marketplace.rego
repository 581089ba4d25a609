package gateway.authz

# METADATA
# title: Marketplace installs and restricted enterprises
# description: |
#   Rules of package gateway.authz (described in decision.rego) for resource type
#   `marketplace_listing`: any user reads the catalog and installs from it. An enterprise
#   with `restrict_installs_to_approved` lets its members have personal servers only from
#   listings it approved, exactly as listed: a marketplace install, a POST /v1/mcp-servers
#   and a PATCH that changes how a server is launched are all judged on `input.proposed`
#   (the personal server as it would be stored), whose `listing` carries the catalog entry
#   it names and which of the caller's enterprises approved it (`approved_by`). A server
#   with no listing is refused too, or the restriction would be one copy-paste away.
_restricting := sort([ent |
	some ent in object.keys(input.subject.memberships)
	input.subject.memberships[ent].restrict_installs_to_approved == true
])

deny contains {"code": "install_restricted", "message": message} if {
	count(_restricting) > 0
	_proposes_personal_server
	message := _restriction(input.proposed)
}

_proposes_personal_server if {
	input.action in {"marketplace.install", "mcp_server.create"}
	input.proposed.type == "mcp_server"
	input.proposed.source == "personal"
}

# An update is judged only when it changes how the server is launched: renaming or disabling
# a server installed before the restriction stays possible.
_proposes_personal_server if {
	input.action == "mcp_server.update"
	input.proposed.source == "personal"
	_launch(input.proposed) != _launch(input.resource)
}

_launch(server) := {
	"listing": server.marketplace_listing_id,
	"transport": server.transport,
	"command": server.command,
	"args": server.args,
	"url": server.url,
	"headers": server.headers,
	"env": {name | some name in server.env},
}

# Why `server` may not be had under the restriction; undefined when nothing stands in the way.
_restriction(server) := concat("", [
	"custom servers are not allowed: ", concat(", ", _restricting),
	" restricts installs to approved marketplace listings",
]) if {
	server.listing == null
} else := concat("", [
	server.listing.id, " is not on the approved list of ", concat(", ", _unapproved(server.listing)),
	"; installs are restricted to approved servers",
]) if {
	count(_unapproved(server.listing)) > 0
} else := concat("", [
	server.listing.id, " must be launched exactly as listed (",
	concat(", ", _restricting), " restricts installs to approved servers)",
]) if {
	_launch(server) != _launch(object.union(server.listing, {"marketplace_listing_id": server.listing.id}))
}

_unapproved(listing) := [ent | some ent in _restricting; not ent in listing.approved_by]
