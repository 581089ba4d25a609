package gateway.authz

# METADATA
# title: A person approves each destructive call, for the members of some enterprises
# description: |
#   An approval rule added to package gateway.authz (docs/adr/0057-tool-integrity.md): copy
#   docs/examples/approve-destructive-tools/gateway/ over policies/gateway/. For a member of
#   an enterprise listed in data.gateway.approve_destructive_tools.enterprises, a call of a
#   tool its server marks `destructiveHint: true`, or does not mark read-only, waits until an
#   owner or admin of that enterprise allows exactly that call (POST
#   /v1/approvals/{id}/allow); the MCP client is told the approval id and retries the
#   identical call, which then passes once. The approval lives
#   data.gateway.approve_destructive_tools.ttl_seconds.
approval_required contains {
	"code": "destructive_call",
	"message": concat("", [
		"members of ", _approve_destructive_enterprise, " need an owner or admin to approve each call of ",
		_shown(input.resource.tool.name), " (not marked read-only)",
	]),
	"approvers": {"user_ids": [], "roles": ["owner", "admin"]},
	"ttl_seconds": data.gateway.approve_destructive_tools.ttl_seconds,
} if {
	input.action == "tool.call"
	not input.resource.tool.annotations.read_only_hint == true
}

# The first listed enterprise the caller belongs to (the rule applies if there is one).
_approve_destructive_enterprise := min({ent |
	some ent in data.gateway.approve_destructive_tools.enterprises
	input.subject.memberships[ent]
})
