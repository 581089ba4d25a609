package gateway.scope_test

import data.gateway.scope

_subject(memberships) := {"id": "bob", "email": "bob@example.com", "roles": [],
	"authenticated": true, "auth_enabled": true, "memberships": memberships}

test_view_is_own_servers_and_every_enterprise if {
	v := scope.view with input.subject as _subject({
		"ent_b": {"role": "member", "kind": "organization"},
		"ent_a": {"role": "admin", "kind": "organization"},
	})
	v == {"unscoped": false, "user_ids": ["bob"], "enterprise_ids": ["ent_a", "ent_b"], "auto_enabled_only": true}
}

test_no_memberships_only_own_servers if {
	v := scope.view with input.subject as _subject({})
	v == {"unscoped": false, "user_ids": ["bob"], "enterprise_ids": [], "auto_enabled_only": true}
}

test_auth_disabled_is_unscoped if {
	v := scope.view with input.subject as object.union(_subject({}), {"auth_enabled": false, "authenticated": false})
	v.unscoped
}

test_unauthenticated_sees_nothing if {
	v := scope.view with input.subject as object.union(_subject({}), {"authenticated": false})
	v == {"unscoped": false, "user_ids": [], "enterprise_ids": [], "auto_enabled_only": true}
}
