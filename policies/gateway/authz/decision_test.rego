# METADATA
# title: Tests of gateway.authz, the decision for one action on one resource
# description: |
#   Here: how grants, bans and reasons combine, the action table, who is asking. Every
#   *_test.rego beside this file is this package too, one per resource kind. Each test asks
#   for a whole decision, with an input built by policies/gateway/fixtures/fixtures_test.rego
#   (`f.decide`), and asserts what the gateway would answer: `f.allowed`, `f.refused` with
#   the reason codes, `f.invisible` (a 404) — never a rule inside the decision.
#   Run them all: `opa test -v policies` (OPA) or `.venv/bin/gateway policy test -v` (the
#   embedded engine); `--run REGEX` picks tests by name on both. The package's one
#   package-scope block: the other test modules open with a block on their first rule.
package gateway.authz_test

import data.gateway.fixtures_test as f

# --- how grants, bans and reasons combine ---------------------------------------------------

test_allowed_decision_has_no_reasons if {
	f.allowed(f.decide("mcp_server.read", f.user("alice"), f.personal_server("mcp_1", "alice"), null))
}

test_a_ban_wins_over_a_grant if {
	# alice owns ent_1, so a grant covers her leaving it; as its last owner, a ban applies.
	owner := f.member_of("alice", "ent_1", "owner")
	f.allowed(f.decide("enterprise.members.remove", owner, f.member("ent_1", "alice", "owner", "active", 2), null))
	last := f.member("ent_1", "alice", "owner", "active", 1)
	f.refused(f.decide("enterprise.members.remove", owner, last, null), {"last_owner"})
}

# ADR 0050: the rule that grants is `grant`. A module that still says `allow if` in package
# gateway.authz defines data.gateway.authz.allow, which nothing reads: it grants nothing.
test_a_rule_named_allow_grants_nothing if {
	member := f.member_of("bob", "ent_1", "member")
	d := f.decide("mcp_server.delete", member, f.view_server("emcp_1", "ent_1", true), null)
		with data.gateway.authz.allow as true
	f.refused(d, {"enterprise_managed"})
}

test_a_denial_without_a_specific_reason_is_not_permitted if {
	d := f.decide("mcp_server.frobnicate", f.user("alice"), f.personal_server("mcp_1", "alice"), null)
	f.refused(d, {"not_permitted"})
	d.reasons == {{
		"code": "not_permitted",
		"message": "the policy does not permit mcp_server.frobnicate on this resource",
	}}
}

# --- the action table -------------------------------------------------------------------------

test_an_action_missing_from_the_table_is_never_granted if {
	not f.decide("mcp_server.export", f.user("alice"), f.personal_server("mcp_1", "alice"), null).allow
}

test_an_action_is_granted_only_on_its_resource_type if {
	# marketplace.install is for marketplace listings, not servers
	d := f.decide("marketplace.install", f.user("alice"), f.personal_server("mcp_1", "alice"), null)
	not d.allow
}

test_every_action_names_a_resource_type_and_grantees if {
	every _, entry in data.gateway.actions {
		is_string(entry.resource)
		count(entry.granted_to) > 0
	}
}

test_every_role_action_is_in_the_table_or_a_permission if {
	permissions := {"enterprise.owners.write", "enterprise_server.mandatory.remove"}
	every _, actions in data.gateway.role_actions {
		every action in actions {
			_known(action, permissions)
		}
	}
}

_known(action, _) if data.gateway.actions[action]

_known(action, permissions) if action in permissions

# --- who is asking ------------------------------------------------------------------------------

test_unauthenticated_gets_nothing if {
	f.invisible(f.decide("mcp_server.read", f.anonymous("alice"), f.personal_server("mcp_1", "alice"), null))
}

test_unauthenticated_cannot_create_enterprises if {
	not f.decide("enterprise.create", f.anonymous("alice"), f.enterprise(null, "organization"), null).allow
}

test_local_dev_is_unscoped if {
	f.allowed(f.decide("mcp_server.delete", f.local_dev, f.personal_server("mcp_1", "alice"), null))
}
