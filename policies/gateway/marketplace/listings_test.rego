# METADATA
# title: Tests of a marketplace page's install decisions (gateway.marketplace)
# description: |
#   Each listing of a page carries the very decision an install of it would get.
#   Run: `opa test policies` (OPA) or `.venv/bin/gateway policy test` (the embedded engine).
package gateway.marketplace_test

import data.gateway.fixtures_test as f
import data.gateway.marketplace

_item(id, approved_by, owner) := {
	"resource": f.listing(id, approved_by),
	"proposed": f.installed_from(id, approved_by, owner),
}

_page(subject, items) := out if {
	request := f.request # bound first: rego-cpp ignores `with … as <rule ref>`
	out := marketplace.listings with input.subject as subject
		with input.request as request
		with input.listings as items
}

test_each_listing_gets_the_install_decision if {
	subject := f.member_of_restricting("bob", {"ent_1": true})
	out := _page(subject, [_item("github", ["ent_1"], "bob"), _item("slack", [], "bob")])
	f.allowed(out.decisions.github)
	f.refused(out.decisions.slack, {"install_restricted"})
}

test_the_page_and_the_install_agree if {
	subject := f.member_of_restricting("bob", {"ent_1": true, "ent_2": true})
	item := _item("github", ["ent_2"], "bob")
	out := _page(subject, [item])
	out.decisions.github == f.decide("marketplace.install", subject, item.resource, item.proposed)
}

test_an_empty_page_is_defined if {
	_page(f.user("alice"), []) == {"decisions": {}}
}

test_local_dev_may_install_everything if {
	f.allowed(_page(f.local_dev, [_item("github", [], "local-dev")]).decisions.github)
}
