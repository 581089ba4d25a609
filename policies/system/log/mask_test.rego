# METADATA
# title: Tests of decision-log masking (system.log)
# description: |
#   What the mask hides (literal credentials in headers, arguments, URLs and credential-named
#   keys), what it keeps (${VAR} references, names), and what OPA does not log at all.
#   Run: `opa test policies` (OPA) or `.venv/bin/gateway policy test` (the embedded engine).
package system.log_test

import data.system.log

# `with input.<field>` and variables only: see fixtures_test.rego for why (rego-cpp).
_mask(path, doc) := masks if {
	p := path
	d := doc
	masks := log.mask with input.path as p with input.input as d
}

_event(doc) := _mask("gateway/authz/decision", doc)

_server(fields) := object.union({"type": "mcp_server", "exists": true, "headers": {}, "args": []}, fields)

test_an_ordinary_decision_masks_nothing if {
	masks := _event({
		"action": "mcp_server.create",
		"subject": {"id": "alice", "email": "alice@example.com"},
		"resource": _server({"name": "github", "url": "https://api.example.com/mcp"}),
		"proposed": _server({
			"headers": {"Authorization": "Bearer ${GITHUB_TOKEN}", "Accept": "application/json"},
			"args": ["--token", "${GITHUB_TOKEN}", "--verbose"],
			"env": ["GITHUB_TOKEN"],
			"credentials_set": ["GITHUB_TOKEN"],
		}),
		"request": {"env_vars": ["GITHUB_TOKEN"]},
	})
	count(masks) == 0
}

test_a_literal_credential_header_is_hidden_but_named if {
	masks := _event({"proposed": _server({"headers": {
		"Authorization": "Bearer ghp_literal",
		"X-Api-Key": "k-123",
		"Accept": "application/json",
	}})})
	masks == {
		{"op": "upsert", "path": "/input/proposed/headers/Authorization", "value": "***"},
		{"op": "upsert", "path": "/input/proposed/headers/X-Api-Key", "value": "***"},
	}
}

test_credential_arguments_are_hidden_references_kept if {
	masks := _event({"resource": _server({"args": [
		"--api-key=abc", "--password", "hunter2", "--token=${T}", "--port", "8080",
	]})})
	masks == {
		{"op": "upsert", "path": "/input/resource/args/0", "value": "--api-key=***"},
		{"op": "upsert", "path": "/input/resource/args/2", "value": "***"},
	}
}

test_a_urls_userinfo_and_credential_parameters_are_hidden if {
	masks := _event({"resource": _server({
		"url": "https://user:pw@mcp.example.com/sse?region=eu&access_token=abc",
	})})
	masks == {{
		"op": "upsert", "path": "/input/resource/url",
		"value": "https://***@mcp.example.com/sse?region=eu&access_token=***",
	}}
}

test_a_credential_named_key_of_the_request_or_subject_is_erased if {
	masks := _event({
		"request": {"token": "eyJhbGciOi"},
		"subject": {"id": "alice", "password": "x"},
	})
	masks == {"/input/request/token", "/input/subject/password"}
}

test_every_listing_of_a_marketplace_page_is_masked if {
	masks := _mask("gateway/marketplace/listings", {"listings": [
		{"resource": {}, "proposed": _server({"headers": {"Authorization": "Bearer ${T}"}})},
		{"resource": {}, "proposed": _server({"headers": {"Authorization": "token abc"}})},
	]})
	masks == {{"op": "upsert", "path": "/input/listings/1/proposed/headers/Authorization", "value": "***"}}
}

test_a_pointer_escapes_slash_and_tilde if {
	masks := _event({"resource": _server({"headers": {"a/b~token": "x"}})})
	masks == {{"op": "upsert", "path": "/input/resource/headers/a~1b~0token", "value": "***"}}
}

test_opa_does_not_log_the_gateways_reads_of_the_mask_or_the_data_tree if {
	log.drop with input.path as "system/log/mask"
	log.drop with input.path as ""
	not log.drop with input.path as "gateway/authz/decision"
}
