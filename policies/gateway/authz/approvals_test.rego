package gateway.authz_test

import data.gateway.fixtures_test as f

# METADATA
# title: Tests of approvals of tool calls
# description: |
#   A tool named by an approval rule is not allowed until its approval is sent as allowed
#   and unexpired; the decision then says who may approve and for how long. A refused
#   approval is a denial; an expired or used one needs a new approval. Approvers read and
#   decide approvals; who asked reads them but may not decide.
#   Run: `opa test policies` (OPA) or `.venv/bin/gateway policy test` (the embedded engine).
_appr_rules := [{
	"tool": "delete_file",
	"approvers": {"user_ids": ["sam"], "roles": ["admin"]},
	"ttl_seconds": 600,
}]

_appr_call(approval) := object.union(f.http_server(f.personal_server("mcp_1", "alice"), "https://x/mcp"), {
	"name": "files",
	"tool": {"name": "delete_file", "arguments": {"path": "/tmp/a"}, "approval": approval},
})

_appr_decide(resource) := d if {
	rules := _appr_rules
	d := f.decide("tool.call", f.user("alice"), resource, null) with data.gateway.approvals.tools as rules
}

test_a_call_named_by_a_rule_waits_for_approval if {
	d := _appr_decide(_appr_call(null))
	not d.allow
	d.visible
	f.codes(d) == {"approval_required"}

	# (`in`, not `==`: rego-cpp compares a sorted set to an array literal as unequal)
	"sam" in d.approval.approvers.user_ids
	count(d.approval.approvers.user_ids) == 1
	"admin" in d.approval.approvers.roles
	d.approval.ttl_seconds == 600
}

test_an_allowed_unexpired_approval_lets_the_call_through if {
	d := _appr_decide(_appr_call({"id": "apr_1", "state": "allowed", "expired": false, "decided_by": "sam"}))
	f.allowed(d)
	not d.approval
}

test_a_pending_expired_or_used_approval_needs_approval_again if {
	pending := _appr_decide(_appr_call({"id": "apr_1", "state": "pending", "expired": false, "decided_by": null}))
	f.codes(pending) == {"approval_required", "approval_pending"}
	pending.approval
	expired := _appr_decide(_appr_call({"id": "apr_1", "state": "allowed", "expired": true, "decided_by": "sam"}))
	f.codes(expired) == {"approval_required", "approval_expired"}
	expired.approval
	used := _appr_decide(_appr_call({"id": "apr_1", "state": "used", "expired": false, "decided_by": "sam"}))
	f.codes(used) == {"approval_required", "approval_used"}
}

test_a_refused_approval_is_a_denial if {
	d := _appr_decide(_appr_call({"id": "apr_1", "state": "refused", "expired": false, "decided_by": "sam"}))
	f.refused(d, {"approval_refused"})
	not d.approval
}

test_a_tool_no_rule_names_needs_no_approval if {
	resource := object.union(_appr_call(null), {"tool": {"name": "read_file", "arguments": {}}})
	f.allowed(_appr_decide(resource))
}

test_no_approval_is_asked_for_what_is_denied_anyway if {
	# Bob may not see alice's server: no approval would change that.
	rules := _appr_rules
	d := f.decide("tool.call", f.user("bob"), _appr_call(null), null) with data.gateway.approvals.tools as rules
	not d.allow
	not d.approval
}

_appr_approval := {
	"type": "approval", "exists": true, "id": "apr_1", "state": "pending", "expired": false,
	"user_id": "alice", "server_id": "emcp_1", "enterprise_id": "ent_1", "tool": "delete_file",
	"arguments_sha256": "00", "approver_ids": ["sam"], "approver_roles": ["admin"],
}

test_approvers_decide_who_asked_only_reads if {
	f.allowed(f.decide("approval.decide", f.user("sam"), _appr_approval, null))
	f.allowed(f.decide("approval.decide", f.member_of("dora", "ent_1", "admin"), _appr_approval, null))
	f.allowed(f.decide("approval.read", f.user("alice"), _appr_approval, null))
	f.invisible(f.decide("approval.decide", f.user("alice"), _appr_approval, null))
	f.invisible(f.decide("approval.read", f.member_of("bob", "ent_1", "member"), _appr_approval, null))
}

test_who_asked_may_not_approve_even_when_an_approver if {
	mine := object.union(_appr_approval, {"approver_ids": ["alice"]})
	f.refused(f.decide("approval.decide", f.user("alice"), mine, null), {"own_call"})
}
