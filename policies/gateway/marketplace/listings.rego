# METADATA
# title: Marketplace listings as the caller sees them
# description: |
#   One page of the catalog, each listing with the very decision an install of it would get
#   (data.gateway.authz.decision, action marketplace.install), in one evaluation per page.
#   A deny rule added to gateway.authz therefore shows on the listings page too.
# schemas:
#   - input: schema.input
package gateway.marketplace

import data.gateway.authz

# METADATA
# title: Install decisions for a page of listings
# description: |
#   Input: {"subject", "request", "context", "listings": [{"resource": <marketplace_listing>,
#   "proposed": <the personal server an install would create>}]}.
#   Output: {"decisions": {<listing id>: {"allow", "visible", "reasons"}}}.
#   Each listing gets authz.decision on the input its install gets: action marketplace.install,
#   its resource and proposed server, and the context the gateway sends an install (in the
#   input). `listings` is emptied for it, so no listing's decision depends on the others: a
#   page's answer is the union of the answers for its listings one at a time, which is how
#   the embedded engine asks it (rego-cpp's `with` costs time proportional to the input).
# entrypoint: true
listings := {"decisions": {item.resource.id: d | # the one `with` outside a test (see .regal)
	some item in input.listings
	d := authz.decision with input.action as "marketplace.install"
		with input.resource as item.resource
		with input.proposed as item.proposed
		with input.listings as []
}}
