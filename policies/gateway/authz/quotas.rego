package gateway.authz

# METADATA
# title: Quotas
# description: |
#   Rules of package gateway.authz (described in decision.rego): what one user or enterprise
#   may have, from data.gateway.quotas, so the size of every policy input and the cost of
#   every view stay bounded. The gateway sends the count the action would grow in
#   input.context.counts; memberships and owned organizations are counted from
#   input.subject. An action that would go past a quota is denied with `quota_exceeded`.
#   Counts are read just before the write, so concurrent creates can pass a quota by at most
#   the number in flight.
_exceeded(quota, what) := {
	"code": "quota_exceeded",
	"message": concat("", ["quota exceeded: at most ", format_int(quota, 10), " ", what]),
}

deny contains _exceeded(quota, "personal servers per user") if {
	input.action == "mcp_server.create"
	quota := data.gateway.quotas.personal_servers_per_user
	input.context.counts.personal_servers >= quota
}

deny contains _exceeded(quota, "servers per enterprise") if {
	input.action == "enterprise_server.create"
	quota := data.gateway.quotas.servers_per_enterprise
	input.context.counts.enterprise_servers >= quota
}

deny contains _exceeded(quota, "members and invitations per enterprise") if {
	input.action == "enterprise.members.invite"
	quota := data.gateway.quotas.seats_per_enterprise
	input.context.counts.enterprise_seats >= quota
}

deny contains _exceeded(quota, "enterprise memberships per user") if {
	input.action == "invitation.accept"
	quota := data.gateway.quotas.memberships_per_user
	count(input.subject.memberships) >= quota
}

deny contains _exceeded(quota, "organizations owned per user") if {
	input.action == "enterprise.create"
	quota := data.gateway.quotas.organizations_owned_per_user
	owned := {id |
		some id
		input.subject.memberships[id].role == "owner"
		input.subject.memberships[id].kind == "organization"
	}
	count(owned) >= quota
}
