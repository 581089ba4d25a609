# Which stores feed a subject's merged view of MCP servers (ADR-0008 "Merged user view").
#
# Input: {"subject": ...}. Output: data.gateway.scope.view =
#   {"unscoped": bool, "user_ids": [...], "enterprise_ids": [...], "auto_enabled_only": bool}
# Personal servers of `user_ids` plus the servers of `enterprise_ids` — only their
# auto-enabled ones when `auto_enabled_only` (the ADR); `unscoped` (auth disabled, local dev)
# means every user's and every enterprise's. Keep it in step with authz's `_in_merged_view`,
# which decides what GET /v1/mcp-servers/{id} may show.
package gateway.scope

default view := {"unscoped": false, "user_ids": [], "enterprise_ids": [], "auto_enabled_only": true}

view := {"unscoped": true, "user_ids": [], "enterprise_ids": [], "auto_enabled_only": true} if {
	input.subject.auth_enabled == false
} else := {
	"unscoped": false,
	"user_ids": [input.subject.id],
	"enterprise_ids": sort([ent | some ent in object.keys(input.subject.memberships)]),
	"auto_enabled_only": true,
} if {
	input.subject.auth_enabled == true
	input.subject.authenticated == true
}
