# METADATA
# title: Authorization decisions of the MCP Policy Gateway
# description: |
#   Every scoping and role decision the gateway takes for one action on one resource
#   (ADR-0008). Grants are `grant` and `visible` rules, one file per resource kind in this
#   directory, driven by the action table in data.gateway.actions; bans are `deny` rules, and
#   any module in the policy directory that says `package gateway.authz` may add to `deny`.
#   A ban always wins over a grant. The answer is `decision` alone: no other rule of this
#   package is read by the gateway (a rule named `allow` grants nothing, ADR 0050).
#   Input schema, per resource type: policies/schemas/. The package's one package-scope
#   block (OPA refuses a second): every other module of it opens with a block on its first
#   rule.
# schemas:
#   - input: schema.input
package gateway.authz

# METADATA
# title: The decision
# description: |
#   The answer for `input.action` on `input.resource`, {"allow", "visible", "reasons"}:
#   `visible` false means the caller may not know the resource exists (404); visible but not
#   `allow` is a 403 carrying `reasons`. `allow` is true only when some `grant` applies and
#   no `deny` rule does and no `approval_required` rule waits for a person's approval; then
#   the decision also carries `approval` (who may approve, for how long: approvals.rego).
# entrypoint: true
decision := object.union({"allow": _allowed, "visible": visible, "reasons": reasons}, _approval_part)

# METADATA
# title: Visibility
# description: Whether the caller may know the resource exists (default invisible).
# scope: document
default visible := false

# Local dev is unscoped: everything is visible and granted. Authenticated users get what
# the action table grants `any_user`; the other kinds of caller get theirs in the resource
# kinds' files.
visible if _local_dev

visible if {
	_authenticated
	_granted_to("any_user")
}

# METADATA
# title: Grants
# description: |
#   Some rule grants the action on the resource (default false). Not the answer: the
#   decision's `allow` is a grant that no `deny` overrides.
# scope: document
default grant := false

grant if _local_dev

grant if {
	_authenticated
	_granted_to("any_user")
}

default _allowed := false

_allowed if {
	grant
	count(deny) == 0
	not _awaiting_approval
}

# METADATA
# title: Reasons
# description: |
#   The bans when any applies; none when allowed; otherwise what the caller lacks
#   (`_why_not`), or a generic `not_permitted`.
reasons := deny if {
	count(deny) > 0
} else := _approval_reasons if {
	grant
	_awaiting_approval
} else := set() if {
	grant
} else := _why_not if {
	count(_why_not) > 0
} else := {{
	"code": "not_permitted",
	"message": concat("", ["the policy does not permit ", _action_name, " on this resource"]),
}}

default _action_name := "this action"

_action_name := input.action if is_string(input.action)

# A value for a message: concat fails on anything but strings (and rego-cpp then answers
# malformed JSON), so a missing id reads as "(none)".
_shown(value) := value if {
	is_string(value)
} else := "(none)"

# --- who is asking -----------------------------------------------------------------------

# Auth disabled is the ADR's local-dev mode: unscoped, everything visible and granted.
_local_dev if input.subject.auth_enabled == false

_authenticated if {
	input.subject.auth_enabled == true
	input.subject.authenticated == true
}

# --- the action table (data.gateway.actions) ---------------------------------------------

# An action is granted only on its own resource type, to the kinds of caller listed for it.
_granted_to(kind) if {
	entry := data.gateway.actions[input.action]
	input.resource.type == entry.resource
	kind in entry.granted_to
}

# --- enterprise roles (data.gateway.role_actions) ----------------------------------------

# The caller's role in the enterprise the resource belongs to (accepted memberships only).
_role := input.subject.memberships[input.resource.enterprise_id].role if _authenticated

_role_allows if {
	_granted_to("enterprise_role")
	input.action in data.gateway.role_actions[_role]
}

_role_has(permission) if permission in data.gateway.role_actions[_role]

_roles_allowed contains role if {
	some role in object.keys(data.gateway.role_actions)
	input.action in data.gateway.role_actions[role]
}

# A member whose role lacks the action: say which roles have it.
_why_not contains {
	"code": "role_required",
	# concat, not sprintf: rego-cpp quotes a computed string passed to sprintf's %s.
	"message": concat("", [
		_action_name, " needs one of the roles ", concat(", ", sort(_roles_allowed)),
		" in enterprise ", _shown(input.resource.enterprise_id), "; your role is ", _role,
	]),
} if {
	_granted_to("enterprise_role")
	not _role_allows
}
