package gateway.authz

# METADATA
# title: Approvals of tool calls (approval_required, approval.read, approval.decide)
# description: |
#   Rules of package gateway.authz (described in decision.rego) for human approval
#   (docs/adr/0057-tool-integrity.md). Any module may add to `approval_required` an object
#   {"code", "message", "approvers": {"user_ids", "roles"}, "ttl_seconds"}: a `tool.call`
#   it matches is then not allowed until a person approves exactly that call, and the
#   decision carries `approval` (the approvers of every rule that matched, the shortest
#   ttl). The shipped rules come from data.gateway.approvals.tools (none by default). Once an
#   approver allows the call, the gateway sends the approval (`input.resource.tool.approval`)
#   and the identical call passes, once. `roles` are roles in the server's enterprise. An
#   approval is read by who asked for it and by its approvers, and decided by its approvers
#   only, never by who asked.
approval_required contains {
	"code": "approval_required",
	"message": concat("", [
		"tool ", _shown(input.resource.tool.name), " of MCP server ", _shown(input.resource.name),
		" needs a person's approval for each call",
	]),
	"approvers": object.get(rule, "approvers", {}),
	"ttl_seconds": object.get(rule, "ttl_seconds", 900),
} if {
	input.action == "tool.call"
	some rule in data.gateway.approvals.tools
	rule.tool == input.resource.tool.name
	_rule_names_server(rule)
}

_rule_names_server(rule) if not rule.server_names

_rule_names_server(rule) if input.resource.name in rule.server_names

_awaiting_approval if {
	count(approval_required) > 0
	not _approval_granted
}

_approval_granted if {
	input.resource.tool.approval.state == "allowed"
	input.resource.tool.approval.expired == false
}

# What the caller is told: the rules' reasons, and what became of an approval they had.
_approval_reasons := {{"code": r.code, "message": r.message} | some r in approval_required} | _approval_state

_approval_state contains {
	"code": concat("", ["approval_", _approval_state_name]),
	"message": concat("", [
		"approval ", _shown(input.resource.tool.approval.id), " of this call ", _approval_state_text,
	]),
} if _approval_state_name

_approval_state_name := "expired" if {
	input.resource.tool.approval.expired == true
} else := "used" if {
	input.resource.tool.approval.state == "used"
} else := "pending" if {
	input.resource.tool.approval.state == "pending"
}

default _approval_state_text := "is still waiting for an approver"

_approval_state_text := "expired: a new approval is needed" if {
	_approval_state_name == "expired"
} else := "was used: each approval lets one call through" if {
	_approval_state_name == "used"
}

default _approval_part := {}

_approval_part := {"approval": {
	"approvers": {
		"user_ids": sort({id | some r in approval_required; some id in object.get(r.approvers, "user_ids", [])}),
		"roles": sort({role | some r in approval_required; some role in object.get(r.approvers, "roles", [])}),
	},
	"ttl_seconds": min({r.ttl_seconds | some r in approval_required}),
}} if {
	grant
	count(deny) == 0
	_awaiting_approval
}

# --- the approvals themselves (/v1/approvals) --------------------------------------------

_is_approver if {
	_authenticated
	input.resource.type == "approval"
	input.subject.id in input.resource.approver_ids
}

_is_approver if {
	_authenticated
	input.resource.type == "approval"
	input.subject.memberships[input.resource.enterprise_id].role in input.resource.approver_roles
}

_asked_for_it if {
	_authenticated
	input.resource.type == "approval"
	input.resource.user_id == input.subject.id
}

visible if {
	_is_approver
	_granted_to("approver")
}

visible if {
	_asked_for_it
	_granted_to("requester")
}

grant if {
	_is_approver
	_granted_to("approver")
}

grant if {
	_asked_for_it
	_granted_to("requester")
}

deny contains {
	"code": "own_call",
	"message": "an approval is decided by someone other than who asked for it",
} if {
	input.action == "approval.decide"
	_asked_for_it
}

# An approver refused this exact call: refused until the refusal expires.
deny contains {
	"code": "approval_refused",
	"message": concat("", [
		"approval ", _shown(input.resource.tool.approval.id), " of this call was refused by ",
		_shown(input.resource.tool.approval.decided_by),
	]),
} if {
	count(approval_required) > 0
	input.resource.tool.approval.state == "refused"
	input.resource.tool.approval.expired == false
}
