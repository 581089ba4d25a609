package system.log

# METADATA
# title: Decision-log masking
# description: |
#   Rules of package system.log (described in drop.rego). Evaluated on every decision-log
#   event, by OPA for its own log and by the gateway for its log (the event is the input:
#   input.input is the decision's input). `mask` returns JSON pointers to erase and
#   {"op": "upsert"} objects to replace; the record lists them in `erased` and `masked`.
#   Credential values never reach the gateway's policy input (only env var names do), so
#   what is masked here is what a user typed where a ${VAR} reference belongs: a literal
#   token in a header, an argument, a URL; and any key named like a credential in the
#   request, the subject or a server (a bearer token included). docs/audit.md.
_credential_name(name) if regex.match(
	`(auth|token|secret|passw|api[_-]?key|private[_-]?key|cookie|session|credential|signature)`,
	lower(name),
)

# A key whose value is a credential (looked up, not searched for: rego-cpp pays for every
# key it iterates).
_credential_keys := {
	"authorization", "Authorization", "proxy-authorization", "Proxy-Authorization", "cookie",
	"Cookie", "password", "Password", "passwd", "secret", "Secret", "client_secret",
	"api_key", "api-key", "apikey", "apiKey", "access_token", "accessToken", "refresh_token",
	"refreshToken", "id_token", "bearer_token", "token", "Token", "private_key",
}

# Only ${VAR} references, after an optional scheme word ("Bearer ${GITHUB_TOKEN}").
_references_only(value) if regex.match(
	`^\s*([A-Za-z]+\s+)?(\$\{[A-Za-z_][A-Za-z0-9_]*\}\s*)+$`,
	value,
)

# A key as a JSON pointer token. (concat and format_int, not sprintf, build pointers:
# rego-cpp's sprintf quotes strings.)
_token(key) := replace(replace(key, "~", "~0"), "/", "~1")

_hidden := "***"

# Where the gateway's input carries a server's launch fields (docs/policies.md), by the
# pointer to it: the resource and the proposed object, the listing a proposed server
# names, and both sides of every item of a marketplace page. Named rather than found with
# `walk`, and keyed by pointer rather than collected in a set: rego-cpp pays tens of
# milliseconds per record for either.
_servers[pointer] := server if {
	some part in ["resource", "proposed"]
	server := input.input[part]
	is_object(server)
	pointer := concat("/", ["/input", part])
}

_servers[pointer] := listing if {
	some part in ["resource", "proposed"]
	listing := input.input[part].listing
	is_object(listing)
	pointer := concat("/", ["/input", part, "listing"])
}

_servers[pointer] := server if {
	some i, item in input.input.listings
	some part in ["resource", "proposed"]
	server := item[part]
	is_object(server)
	pointer := concat("/", ["/input/listings", format_int(i, 10), part])
}

# Where a credential-named key could sit: the request, the subject, the context (a
# server's keys are its schema's; what it carries is masked by the rules below).
_objects[pointer] := doc if {
	some part in ["request", "subject", "context"]
	doc := input.input[part]
	is_object(doc)
	pointer := concat("/", ["/input", part])
}

# METADATA
# title: What the decision log must not show
# entrypoint: true
mask contains concat("/", [pointer, _token(key)]) if {
	some pointer, doc in _objects
	some key in (object.keys(doc) & _credential_keys)
}

# A credential header keeps its name (which header was set is worth auditing); its value
# is hidden unless it holds references only.
mask contains {"op": "upsert", "path": concat("/", [pointer, "headers", _token(name)]), "value": _hidden} if {
	some pointer, server in _servers
	some name, value in server.headers
	_credential_name(name)
	not _references_only(value)
}

# `--api-key=abc` becomes `--api-key=***`; `--token abc` hides the argument after the flag.
mask contains {"op": "upsert", "path": concat("/", [pointer, "args", format_int(i, 10)]), "value": masked} if {
	some pointer, server in _servers
	some i, arg in server.args
	is_string(arg)
	[[_, flag]] := regex.find_all_string_submatch_n(`^(--?[A-Za-z0-9_.-]+)=`, arg, 1)
	_credential_name(flag)
	not _references_only(substring(arg, count(flag) + 1, -1))
	masked := concat("=", [flag, _hidden])
}

mask contains {"op": "upsert", "path": concat("/", [pointer, "args", format_int(i + 1, 10)]), "value": _hidden} if {
	some pointer, server in _servers
	some i, flag in server.args
	is_string(flag)
	regex.match(`^--?[A-Za-z0-9_.-]+$`, flag)
	_credential_name(flag)
	value := server.args[i + 1]
	is_string(value)
	not _references_only(value)
}

# A URL's user:password@ and its credential-named query parameters.
mask contains {"op": "upsert", "path": concat("/", [pointer, "url"]), "value": masked} if {
	some pointer, server in _servers
	is_string(server.url)
	masked := _masked_url(server.url)
	masked != server.url
}

_masked_url(url) := regex.replace(
	regex.replace(url, `^([A-Za-z][A-Za-z0-9+.-]*://)[^/@?#]*@`, "$1***@"),
	`([?&][^=&#]*(auth|token|secret|passw|key|sig)[^=&#]*=)[^&#]*`,
	"$1***",
)
