package gateway.marketplace_test

import data.gateway.authz
import data.gateway.marketplace

# --- input builders ---------------------------------------------------------------------

_user(id) := {"id": id, "email": sprintf("%s@example.com", [id]), "roles": [],
	"authenticated": true, "auth_enabled": true, "memberships": {}}

_membership(restricted) := {"role": "member", "kind": "organization",
	"restrict_installs_to_approved": restricted}

# `ents` maps an enterprise id to whether it restricts installs to its approved list.
_member(id, ents) := object.union(_user(id), {"memberships": {ent: _membership(r) |
	some ent in object.keys(ents)
	r := ents[ent]
}})

_local_dev := {"id": "local-dev", "email": "local-dev@localhost", "roles": [],
	"authenticated": false, "auth_enabled": false, "memberships": {}}

_listing(id, approved_by) := {"type": "marketplace_listing", "id": id, "approved_by": approved_by}

# `with input.<field>`, never `with input as {...}`: rego-cpp fails to compile the whole-input
# form over rules that call builtins.
_batch(subject, listings) := out if {
	out := marketplace.listings with input.subject as subject with input.listings as listings
}

_install(subject, listing) := d if {
	d := authz.decision with input.action as "marketplace.install"
		with input.subject as subject
		with input.resource as listing
		with input.context as {}
}

_codes(d) := {r.code | some r in d.reasons}

# --- the rule: install_denial(subject, listing) -------------------------------------------

test_no_enterprise_means_no_restriction if {
	not marketplace.install_denial(_user("alice"), _listing("github", []))
}

test_unrestricted_enterprise_does_not_restrict if {
	not marketplace.install_denial(_member("bob", {"ent_1": false}), _listing("github", []))
}

test_membership_without_the_setting_does_not_restrict if {
	subject := object.union(_user("bob"), {"memberships": {"ent_1": {"role": "member", "kind": "organization"}}})
	not marketplace.install_denial(subject, _listing("github", []))
}

test_restricted_member_may_not_install_an_unapproved_listing if {
	d := marketplace.install_denial(_member("bob", {"ent_1": true}), _listing("github", []))
	d.code == "install_restricted"
	d.message == "github is not on the approved list of ent_1; installs are restricted to approved servers"
}

test_restricted_member_may_install_what_the_enterprise_approved if {
	not marketplace.install_denial(_member("bob", {"ent_1": true}), _listing("github", ["ent_1"]))
}

test_approval_by_another_enterprise_does_not_lift_a_restriction if {
	subject := _member("bob", {"ent_1": true, "ent_2": false})
	d := marketplace.install_denial(subject, _listing("github", ["ent_2"]))
	d.code == "install_restricted"
	contains(d.message, "list of ent_1;")
}

test_every_restricting_enterprise_must_approve if {
	subject := _member("bob", {"ent_1": true, "ent_2": true})
	marketplace.install_denial(subject, _listing("github", ["ent_1"])).message == "github is not on the approved list of ent_2; installs are restricted to approved servers"
	marketplace.install_denial(subject, _listing("github", [])).message == "github is not on the approved list of ent_1, ent_2; installs are restricted to approved servers"
	not marketplace.install_denial(subject, _listing("github", ["ent_1", "ent_2"]))
}

test_missing_approvals_count_as_none if {
	marketplace.install_denial(_member("bob", {"ent_1": true}), {"id": "github"})
}

# --- the batch entrypoint: data.gateway.marketplace.listings ------------------------------

test_batch_reports_only_the_denied_listings if {
	out := _batch(_member("bob", {"ent_1": true, "ent_2": false}), [
		{"id": "github", "approved_by": ["ent_1"]},
		{"id": "slack", "approved_by": ["ent_2"]},
		{"id": "time", "approved_by": []},
	])
	object.keys(out.denied) == {"slack", "time"}
	out.denied.slack.code == "install_restricted"
	out.denied.time.code == "install_restricted"
}

test_batch_denies_nothing_without_restrictions if {
	out := _batch(_member("bob", {"ent_1": false}), [{"id": "github", "approved_by": []}])
	out == {"denied": {}}
}

test_batch_is_defined_for_no_listings if {
	_batch(_member("bob", {"ent_1": true}), []) == {"denied": {}}
}

test_batch_in_local_dev_mode_denies_nothing if {
	_batch(_local_dev, [{"id": "github", "approved_by": []}]) == {"denied": {}}
}

# --- the install decision applies the same rule -------------------------------------------

test_install_allowed_for_any_user_by_default if {
	d := _install(_user("alice"), _listing("github", []))
	d.allow
	d.visible
}

test_install_denied_with_the_policy_reason if {
	d := _install(_member("bob", {"ent_1": true}), _listing("github", []))
	not d.allow
	d.visible
	_codes(d) == {"install_restricted"}
}

test_install_of_an_approved_listing_allowed if {
	d := _install(_member("bob", {"ent_1": true}), _listing("github", ["ent_1"]))
	d.allow
}

test_install_and_batch_give_the_same_reason if {
	subject := _member("bob", {"ent_1": true, "ent_2": true})
	listing := _listing("github", ["ent_2"])
	d := _install(subject, listing)
	out := _batch(subject, [{"id": "github", "approved_by": ["ent_2"]}])
	d.reasons == {out.denied.github}
}

test_install_needs_a_marketplace_listing_resource if {
	d := _install(_user("alice"), {"type": "mcp_server", "id": "github"})
	not d.allow
}

test_install_needs_authentication if {
	subject := object.union(_user("alice"), {"authenticated": false})
	d := _install(subject, _listing("github", []))
	not d.allow
}

test_install_in_local_dev_mode_allowed if {
	_install(_local_dev, _listing("github", [])).allow
}
