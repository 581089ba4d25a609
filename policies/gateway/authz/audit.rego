package gateway.authz

# METADATA
# title: The decision log (/v1/audit/decisions)
# description: |
#   Rules of package gateway.authz (described in decision.rego) for resource type
#   `audit_log`: the platform role `auditor` reads every record; an enterprise's owners and
#   admins read the records of their enterprise (`enterprise_id`), and nothing of another;
#   anyone else is refused (403).
_audit_log if input.resource.type == "audit_log"

_platform_role_allows if {
	_authenticated
	_granted_to("platform_role")
	some role in input.subject.roles
	input.action in data.gateway.platform_role_actions[role]
}

# The log is no secret, its records are: anyone asking is told no (403), not "not found".
visible if {
	_audit_log
	_authenticated
}

grant if {
	_audit_log
	_role_allows
}

grant if {
	_audit_log
	_platform_role_allows
}
