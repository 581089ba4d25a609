package gateway.authz

# METADATA
# title: The policy itself (/v1/policy/status)
# description: |
#   Rules of package gateway.authz (described in decision.rego) for resource type `policy`:
#   which revision the gateway and its OPA sidecar run, and the changes they refused (whose
#   errors quote the Rego). A platform role listed for `policy.read` in
#   data.gateway.platform_role_actions reads it (the shipped data: `auditor`); anyone else
#   is refused (403).
_policy_revisions if input.resource.type == "policy"

visible if {
	_policy_revisions
	_authenticated
}

grant if {
	_policy_revisions
	_platform_role_allows
}
