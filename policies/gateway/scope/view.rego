# METADATA
# title: The merged view
# description: |
#   Which stores feed a subject's merged view of MCP servers (ADR-0008 "Merged user view"):
#   the personal servers of `user_ids` plus the servers of `enterprise_ids`, only their
#   auto-enabled ones when `auto_enabled_only`. `unscoped` (auth disabled, local dev) means
#   every user's and every enterprise's. gateway.authz reads this same rule to decide what
#   GET /v1/mcp-servers/{id} may show, so the list and the item cannot disagree.
# schemas:
#   - input: schema.input
package gateway.scope

# METADATA
# title: View scope
# description: 'Input: {"subject"}. Output: {"unscoped", "user_ids", "enterprise_ids", "auto_enabled_only"}.'
# entrypoint: true
default view := {"unscoped": false, "user_ids": [], "enterprise_ids": [], "auto_enabled_only": true}

view := {"unscoped": true, "user_ids": [], "enterprise_ids": [], "auto_enabled_only": true} if {
	input.subject.auth_enabled == false
} else := {
	"unscoped": false,
	"user_ids": [input.subject.id],
	# A comprehension, not sort(object.keys(...)): on rego-cpp an empty sorted set is not `[]`.
	"enterprise_ids": sort([ent | some ent in object.keys(input.subject.memberships)]),
	"auto_enabled_only": true,
} if {
	input.subject.auth_enabled == true
	input.subject.authenticated == true
}
