# METADATA
# title: Tests of decision-log masking (system.log)
# description: |
#   What the mask hides (credential-named keys at any depth, credentials inside strings,
#   literal credentials in a server's headers, arguments and URL), what it keeps (${VAR}
#   references, names, ordinary arguments), and what OPA does not log at all. One behaviour
#   per test. Run: `opa test policies` (OPA) or `.venv/bin/gateway policy test` (the
#   embedded engine); both must pass.
package system.log_test

import data.gateway.fixtures_test as f
import data.system.log

# The mask as a function of the event: no `with input` (rego-cpp recompiles every rule that
# reads `input` for each `with`). One test goes through `mask` itself.
_mask(path, doc) := log.masks_of({"path": path, "input": doc})

_event(doc) := _mask("gateway/authz/decision", doc)

_server(fields) := object.union({"type": "mcp_server", "exists": true, "headers": {}, "args": []}, fields)

# A tool call through the MCP proxy with these arguments, as the gateway sends it.
_call(arguments) := _event({
	"action": "tool.call",
	"subject": f.user("alice"),
	"resource": f.tool_of(f.personal_server("mcp_1", "alice"), "run", null, arguments),
	"request": f.request,
	"context": {"enterprise_id": null},
})

_at(name) := concat("/", ["/input/resource/tool/arguments", name])

_whole(pointer) := {"op": "upsert", "path": pointer, "value": "***"}

_cut(pointer, value) := {"op": "upsert", "path": pointer, "value": value}

# Secrets planted below: shaped like the real thing, made of letters and digits nobody issued.
_ghp := "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"

# --- what is kept -----------------------------------------------------------------------------

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

test_ordinary_tool_arguments_are_not_touched if {
	masks := _call({
		"path": "/tmp/x", "flags": ["--verbose", "-n", "3"], "max_tokens": 100, "author": "alice",
		"sort_key": "name", "monkey": "business", "query": "token budget: tokens per session",
		"url": "https://example.com/items/123e4567-e89b-12d3-a456-426614174000?page=2",
		"commit": "https://github.com/o/r/commit/0123456789abcdef0123456789abcdef01234567",
	})
	count(masks) == 0
}

test_references_to_env_vars_are_kept_in_arguments if {
	masks := _call({"token": "${GITHUB_TOKEN}", "header": "Bearer ${T}", "cmd": "--api-key=${K}"})
	count(masks) == 0
}

# --- keys at any depth --------------------------------------------------------------------------

test_a_credential_named_argument_is_hidden if {
	masks := _call({"password": "hunter2", "path": "/tmp/x"})
	masks == {_whole(_at("password"))}
}

test_names_match_whatever_the_case_and_separators if {
	masks := _call({
		"API-KEY": "a", "clientSecret": "b", "X_Api_Key": "c", "githubToken": "d",
		"Ocp-Apim-Subscription-Key": "e", "Set-Cookie": "f", "PASSWD": "g", "session_id": "h",
	})
	masks == {
		_whole(_at("API-KEY")), _whole(_at("clientSecret")), _whole(_at("X_Api_Key")),
		_whole(_at("githubToken")), _whole(_at("Ocp-Apim-Subscription-Key")),
		_whole(_at("Set-Cookie")), _whole(_at("PASSWD")), _whole(_at("session_id")),
	}
}

test_an_exact_name_is_hidden_only_when_it_is_the_whole_key if {
	masks := _call({"key": "k-123", "sig": "abc", "sort_key": "name", "keyboard": "us"})
	masks == {_whole(_at("key")), _whole(_at("sig"))}
}

test_keys_are_found_in_arrays_inside_objects_inside_arrays if {
	masks := _call({"batch": [{"items": [{"api_key": "k-1"}, {"name": "x"}]}]})
	masks == {_whole(_at("batch/0/items/0/api_key"))}
}

test_a_credential_named_object_is_hidden_whole_and_nothing_below_it_listed if {
	masks := _call({"credentials": {"user": "bob", "password": "pw", "token": "t"}})
	masks == {_whole(_at("credentials"))}
}

test_prompt_arguments_are_masked_like_tool_arguments if {
	masks := _event({
		"action": "prompt.get",
		"subject": f.user("alice"),
		"resource": object.union(f.personal_server("mcp_1", "alice"), {"prompt": {
			"name": "summarize",
			"arguments": {"api_key": "k-123", "topic": "weather"},
		}}),
		"request": f.request,
	})
	masks == {_whole("/input/resource/prompt/arguments/api_key")}
}

test_the_value_after_a_credential_flag_in_an_argument_array_is_hidden if {
	masks := _call({"argv": ["mysql", "--password", "hunter2", "--user", "bob"]})
	masks == {_whole(_at("argv/2"))}
}

# --- credentials inside strings ------------------------------------------------------------------

test_a_bearer_header_in_a_cli_argument_keeps_its_scheme if {
	masks := _call({"cmd": concat("", ["curl --header \"Authorization: Bearer ", _ghp, "\" https://api.example.com"])})
	masks == {_cut(_at("cmd"), "curl --header \"Authorization: Bearer ***\" https://api.example.com")}
}

test_an_api_key_header_given_with_dash_h_is_hidden if {
	masks := _call({"cmd": "curl -H 'X-Api-Key: abc123' https://api.example.com/v1"})
	masks == {_cut(_at("cmd"), "curl -H 'X-Api-Key: ***' https://api.example.com/v1")}
}

test_a_credential_query_parameter_is_hidden if {
	masks := _call({"url": "https://api.example.com/v1?region=eu&token=t-123&page=2"})
	masks == {_cut(_at("url"), "https://api.example.com/v1?region=eu&token=***&page=2")}
}

test_a_urls_user_info_is_hidden if {
	masks := _call({"dsn": "postgres://bob:hunter2@db.example.com:5432/app"})
	masks == {_cut(_at("dsn"), "postgres://***@db.example.com:5432/app")}
}

test_a_key_like_segment_of_a_url_path_is_hidden if {
	masks := _call({"webhook": "https://hooks.example.com/services/T0001/B0001/Xk9vQ2mR7tLp4sW8nB3cZ6yH"})
	masks == {_cut(_at("webhook"), "https://hooks.example.com/services/T0001/B0001/***")}
}

test_a_known_token_shape_is_hidden_anywhere_in_a_string if {
	masks := _call({"note": concat(" ", ["use", _ghp, "or AKIAABCDEFGHIJKLMNOP today"])})
	masks == {_cut(_at("note"), "use ghp_*** or AKIA*** today")}
}

test_a_bare_bearer_token_is_hidden if {
	masks := _call({"header": "Bearer eyJhbGciOiJIUzI1NiJ9"})
	masks == {_cut(_at("header"), "Bearer ***")}
}

test_a_credential_flag_inside_one_string_is_hidden if {
	masks := _call({"cmd": "mysql --password hunter2 -h db.example.com"})
	masks == {_cut(_at("cmd"), "mysql --password *** -h db.example.com")}
}

test_a_credential_in_json_inside_a_string_is_hidden if {
	masks := _call({"body": "{\"password\": \"hunter2\", \"user\": \"bob\"}"})
	masks == {_cut(_at("body"), "{\"password\": \"***\", \"user\": \"bob\"}")}
}

test_a_credential_on_one_line_of_several_is_hidden_and_the_lines_kept if {
	masks := _call({"config": "host: db\npassword: hunter2\nport: 5432"})
	masks == {_cut(_at("config"), "host: db\npassword: ***\nport: 5432")}
}

# --- conservative where the rules cannot see -------------------------------------------------

test_a_changed_string_holding_a_backslash_is_hidden_whole if {
	masks := _call({"path": "C:\\Users\\bob token=abc"})
	masks == {_whole(_at("path"))}
}

test_a_long_string_with_a_credential_name_is_hidden_whole if {
	masks := _call({"blob": concat("", ["password=", _long])})
	masks == {_whole(_at("blob"))}
}

test_a_long_string_with_nothing_credential_like_is_kept if {
	masks := _call({"blob": _long})
	count(masks) == 0
}

test_arguments_longer_than_the_inspection_budget_are_hidden_whole if {
	masks := _call({"files": [_long, _long, _long, _long, "token=abc"]})
	masks == {_whole("/input/resource/tool/arguments")}
}

# 4,100 characters (more than inspect_max_chars), nothing credential-like in them.
_letters := ["abcdefghij" | some _ in numbers.range(1, 410)]

_long := concat("", _letters)

test_a_key_opa_could_not_point_at_hides_what_holds_it if {
	masks := _call({"api key": "abc", "path": "/tmp/x"})
	masks == {_whole("/input/resource/tool/arguments")}
}

test_a_pointer_through_a_slash_hides_the_headers_whole if {
	masks := _event({"resource": _server({"headers": {"a/b~token": "x"}})})
	masks == {_whole("/input/resource/headers")}
}

# --- a server's launch fields (issue 24) -----------------------------------------------------------

test_a_literal_credential_header_is_hidden_but_named if {
	masks := _event({"proposed": _server({"headers": {
		"Authorization": "Bearer ghp_literal",
		"X-Api-Key": "k-123",
		"Accept": "application/json",
	}})})
	masks == {
		_whole("/input/proposed/headers/Authorization"),
		_whole("/input/proposed/headers/X-Api-Key"),
	}
}

test_a_subscription_key_header_is_hidden if {
	masks := _event({"resource": _server({"headers": {"Ocp-Apim-Subscription-Key": "abc123"}})})
	masks == {_whole("/input/resource/headers/Ocp-Apim-Subscription-Key")}
}

test_credential_arguments_are_hidden_references_kept if {
	masks := _event({"resource": _server({"args": [
		"--api-key=abc", "--password", "hunter2", "--token=${T}", "--port", "8080",
	]})})
	masks == {_cut("/input/resource/args/0", "--api-key=***"), _whole("/input/resource/args/2")}
}

test_a_bearer_header_in_a_stdio_servers_args_is_hidden if {
	masks := _event({"resource": _server({"transport": "stdio", "command": "npx", "args": [
		"mcp-remote", "https://mcp.example.com/sse", "--header", concat("", ["Authorization: Bearer ", _ghp]),
	]})})
	masks == {_cut("/input/resource/args/3", "Authorization: Bearer ***")}
}

test_a_urls_userinfo_and_credential_parameters_are_hidden if {
	masks := _event({"resource": _server({
		"url": "https://user:pw@mcp.example.com/sse?region=eu&access_token=abc",
	})})
	masks == {_cut("/input/resource/url", "https://***@mcp.example.com/sse?region=eu&access_token=***")}
}

test_a_token_in_a_servers_url_path_is_hidden if {
	masks := _event({"resource": _server({"url": "https://mcp.example.com/v1/Zk8x9QmR2vT7bN4cL1pW6sYh/mcp"})})
	masks == {_cut("/input/resource/url", "https://mcp.example.com/v1/***/mcp")}
}

test_every_listing_of_a_marketplace_page_is_masked if {
	masks := _mask("gateway/marketplace/listings", {"listings": [
		{"resource": {}, "proposed": _server({"headers": {"Authorization": "Bearer ${T}"}})},
		{"resource": {}, "proposed": _server({"headers": {"Authorization": "token abc"}})},
	]})
	masks == {_whole("/input/listings/1/proposed/headers/Authorization")}
}

# --- the request, the subject, the context ---------------------------------------------------------

test_a_credential_named_key_of_the_request_or_subject_is_erased if {
	masks := _event({
		"request": {"token": "eyJhbGciOi"},
		"subject": {"id": "alice", "password": "x", "authenticated": true, "auth_enabled": true},
	})
	masks == {"/input/request/token", "/input/subject/password"}
}

# --- the data file ------------------------------------------------------------------------------------

test_a_name_added_to_the_data_file_is_hidden if {
	credentials := object.union(log.credentials, {
		"names": array.concat(log.credentials.names, ["employee_pin"]),
	})
	event := {"path": "gateway/authz/decision", "input": {"resource": f.tool_of(
		f.personal_server("mcp_1", "alice"), "run", null,
		{"employeePin": "1234", "pin_code": "x"},
	)}}
	log.masks_with(event, credentials) == {_whole(_at("employeePin"))}
}

test_the_mask_rule_answers_what_masks_of_answers if {
	doc := {"resource": _server({"headers": {"Authorization": "token abc"}})}
	path := "gateway/authz/decision"
	log.mask == {_whole("/input/resource/headers/Authorization")} with input.path as path with input.input as doc
}

test_listed_names_are_lowercase_words if {
	every name in array.concat(log.credentials.names, log.credentials.exact_names) {
		regex.match(`^[a-z0-9]+([_-][a-z0-9]+)*$`, name)
	}
}

# A shape's `keep` runs on whole arguments: it repeats nothing without a bound, and holds no
# capturing group (the replacement counts one per shape); its hints are what it must contain.
test_token_shapes_are_bounded_and_hinted if {
	every shape in log.credentials.token_shapes {
		not regex.match(`[*+]|\{[0-9]*,\}`, shape.keep)
		not regex.match(`\((?:[^?]|$)`, concat("", [shape.keep, shape.secret]))
		count(shape.hints) > 0
	}
}

test_opa_does_not_log_the_gateways_reads_of_the_mask_or_the_data_tree if {
	log.drop with input.path as "system/log/mask"
	log.drop with input.path as ""
	not log.drop with input.path as "gateway/authz/decision"
}
