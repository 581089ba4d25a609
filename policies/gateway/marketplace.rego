# Marketplace governance beyond ADR-0008: an enterprise may restrict its members to
# installing only the listings it approved (it has an enterprise server, auto-enabled or
# not, whose marketplace_listing_id is the listing).
#
# `denial(restricting_enterprises(subject), listing)` is the one rule (`install_denial` for
# short). Two entrypoints apply it:
#   - data.gateway.authz.decision, action "marketplace.install" (one listing, the install);
#   - data.gateway.marketplace.listings (every listing of a page, once per request, with the
#     subject's part worked out once):
#       input:  {"subject": ..., "listings": [{"id": "github", "approved_by": ["ent_1"]}, ...]}
#       output: {"denied": {"github": {"code": "...", "message": "..."}}} (allowed ones absent)
# so what the marketplace shows (`allowed`, `reason`) and what an install gets cannot disagree.
package gateway.marketplace

# The subject's enterprises that restrict installs to their approved list, sorted.
restricting_enterprises(subject) := sort([ent |
	some ent in object.keys(subject.memberships)
	subject.memberships[ent].restrict_installs_to_approved == true
])

# The reason `subject` may not install `listing`; undefined when nothing stands in the way.
# `listing.approved_by` names the subject's enterprises that approved it (missing: none).
install_denial(subject, listing) := denial(restricting_enterprises(subject), listing)

# The same, with the subject's restricting enterprises worked out once (for a whole page).
# One reason naming every restricting enterprise that did not approve, so a listing has one.
# Kept to one concat: on rego-cpp, helper calls here cost ~30 µs per listing of a page.
denial(restricting, listing) := {
	"code": "install_restricted",
	# concat, not sprintf: rego-cpp quotes a computed string passed to sprintf's %s.
	"message": concat("", [
		listing.id, " is not on the approved list of ", concat(", ", ents),
		"; installs are restricted to approved servers",
	]),
} if {
	ents := [ent | some ent in restricting; not ent in listing.approved_by]
	count(ents) > 0
}

_restricting := restricting_enterprises(input.subject)

# Without a restricting enterprise (the default) the listings are not even looked at.
listings := {"denied": {listing.id: reason |
	count(_restricting) > 0
	some listing in input.listings
	reason := denial(_restricting, listing)
}}
