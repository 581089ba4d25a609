# Which stores feed a subject's merged view of MCP servers (ADR-0008 "Merged user view").
#
# Input: {"subject": ...}. Output: data.gateway.scope.view =
#   {"unscoped": bool, "user_ids": [...], "enterprise_ids": [...]}
# Personal servers of `user_ids` plus the auto-enabled servers of `enterprise_ids`;
# `unscoped` (auth disabled, local dev) means every user's and every enterprise's.
package gateway.scope

default view := {"unscoped": false, "user_ids": [], "enterprise_ids": []}

view := {"unscoped": true, "user_ids": [], "enterprise_ids": []} if {
	input.subject.auth_enabled == false
} else := {
	"unscoped": false,
	"user_ids": [input.subject.id],
	"enterprise_ids": sort([ent | some ent in object.keys(input.subject.memberships)]),
} if {
	input.subject.auth_enabled == true
	input.subject.authenticated == true
}
