# METADATA
# title: Tests of the merged view's scope (gateway.scope)
# description: |
#   A user's view is their own servers and those of every enterprise they belong to; auth
#   disabled is unscoped; an unauthenticated caller sees nothing.
#   Run: `opa test policies` (OPA) or `.venv/bin/gateway policy test` (the embedded engine).
package gateway.scope_test

import data.gateway.fixtures_test as f
import data.gateway.scope

test_the_view_is_ones_own_servers_and_every_enterprises if {
	subject := object.union(f.user("bob"), {"memberships": {
		"ent_b": f.membership("member"),
		"ent_a": f.membership("admin"),
	}})
	v := scope.view with input.subject as subject
	v == {"unscoped": false, "user_ids": ["bob"], "enterprise_ids": ["ent_a", "ent_b"], "auto_enabled_only": true}
}

test_without_memberships_the_view_is_ones_own_servers if {
	v := scope.view with input.subject as f.user("bob")
	v == {"unscoped": false, "user_ids": ["bob"], "enterprise_ids": [], "auto_enabled_only": true}
}

test_auth_disabled_is_unscoped if {
	# Bound to a variable first: rego-cpp ignores `with … as <rule ref>`.
	subject := f.local_dev
	v := scope.view with input.subject as subject
	v.unscoped
}

test_an_unauthenticated_caller_sees_nothing if {
	v := scope.view with input.subject as f.anonymous("bob")
	v == {"unscoped": false, "user_ids": [], "enterprise_ids": [], "auto_enabled_only": true}
}
