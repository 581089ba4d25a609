package system.log

# METADATA
# title: Decision-log masking
# description: |
#   Rules of package system.log (described in drop.rego). Evaluated on every decision-log
#   event, by OPA for its own log and by the gateway for its log (the event is the input:
#   input.input is the decision's input). `mask` returns JSON pointers to erase and
#   {"op": "upsert"} objects to replace; the record lists them in `erased` and `masked`.
#   Credential values never reach the gateway's policy input (only env var names do), so
#   what is masked here is what a user or an MCP client typed: a literal token in a
#   server's header, argument or URL, anything credential-like in the arguments of a tool
#   call or a prompt, and a credential-named key of the request, the subject or the
#   ctx. What counts as credential-like is data: data.json beside this file.
#   Written as functions of the event and that data (`masks_with`), not as rules of
#   `input`: rego-cpp recompiles every rule that reads `input` for each `with` of a test,
#   which made these tests take minutes, and the tests can hand it other data. docs/audit.md.
_hidden := "***"

# METADATA
# title: What the decision log must not show
# entrypoint: true
mask contains entry if some entry in masks_of(input)

# What `mask` answers for `event`, with the names and shapes of data.json.
masks_of(event) := masks_with(event, data.system.log.credentials)

# What `mask` answers for `event` with `credentials` in the place of data.json's.
masks_with(event, credentials) := _erased(event, credentials) | _replaced(_marshalled(_roots(event)), credentials)

# --- Names ------------------------------------------------------------------------------
# A key is credential-named when, lowercased and without `-`, `_`, `.` and spaces, it ends
# with a listed name written the same way (`github_token`, `clientSecret`, `X-Api-Key` end
# with `token`, `secret`, `apikey`) or is a listed exact name (`key`, `sig`). Names are
# compared as plain strings, not patterns: rego-cpp compiles a regex at every call (0.1-1 ms
# for a pattern of every name), and lowercases ASCII only, which is all a name holds.
_normal(text) := replace(replace(replace(replace(lower(text), "-", ""), "_", ""), ".", ""), " ", "")

# Each listed name lowercased without separators (compared with keys), and spelled as a
# pattern where a separator may stand (searched for in strings: `api_key` is
# `api[-_. ]?key`), index for index.
_config(credentials) := {
	"names": split(_normal(concat(",", credentials.names)), ","),
	"spelled": _spelled(credentials.names),
	"exact": split(_normal(concat(",", credentials.exact_names)), ","),
	"exact_spelled": _spelled(credentials.exact_names),
	"schemes": credentials.schemes,
	"shapes": credentials.token_shapes,
	"max_chars": credentials.inspect_max_chars,
	"max_bytes": credentials.inspect_max_bytes,
}

_spelled(names) := split(replace(_underscored(lower(concat(",", names))), "_", "[-_. ]?"), ",")

_underscored(text) := replace(replace(replace(text, "-", "_"), ".", "_"), " ", "_")

# Only ${VAR} references, after an optional scheme word ("Bearer ${GITHUB_TOKEN}"). (No
# regex that repeats without a bound runs on a long string: see _string_shown.)
_references_only(value) if {
	count(value) <= 1024
	regex.match(`^\s*([A-Za-z]+\s+)?(\$\{[A-Za-z_][A-Za-z0-9_]*\}\s*)+$`, value)
}

# --- The request, the subject, the context -----------------------------------------------
# A credential-named key there is erased. Their fields as the gateway sends them are
# ordinary names, so only a key it does not send is looked at.
_erased(event, credentials) := {pointer |
	some part in ["request", "subject", "context"]
	doc := event.input[part]
	is_object(doc)
	some key in object.keys(object.remove(doc, _known_fields))
	config := _config(credentials)
	_named(_normal(key), config.names, config.exact)
	pointer := _erased_pointer(part, key)
}

# A key OPA could not find by its pointer (see _pointer): the part holding it goes.
_erased_pointer(part, key) := concat("/", ["/input", part, key]) if _safe(key)

else := concat("/", ["/input", part])

_known_fields := {
	"method", "path", "req_id", "env_vars", "id", "email", "email_verified", "name", "roles",
	"authenticated", "auth_enabled", "memberships", "claims", "enterprise_id", "counts",
}

_named(normal, names, _) if {
	some name in names
	endswith(normal, name)
}

_named(normal, _, exact) if normal in exact

# --- Where to look ------------------------------------------------------------------------
# [pointer, value] of what is searched at any depth: each server's headers, args, url and
# command (its env holds env var names only, ^[A-Z_][A-Z0-9_]*$), and the arguments of a tool
# call and of a prompt (the MCP proxy). Servers are where the gateway's input carries launch
# fields (docs/policies.md): the resource and the proposed object, the listing a proposed
# server names, both sides of every item of a marketplace page. Named rather than found
# with `walk`: rego-cpp pays tens of milliseconds per record for a walk of the whole input.
_roots(event) := array.concat(
	[[concat("/", [at, field]), doc] |
		some server in _servers(event)
		at := server[0]
		some field in ["headers", "args", "url", "command"]
		doc := server[1][field]
		doc != null
	],
	[[concat("/", ["/input/resource", kind, "arguments"]), doc] |
		some kind in ["tool", "prompt"]
		doc := event.input.resource[kind].arguments
		is_object(doc)
	],
)

_servers(event) := array.concat(
	[[concat("/", ["/input", part]), server] |
		some part in ["resource", "proposed"]
		server := event.input[part]
		is_object(server)
	],
	array.concat(
		[[concat("/", ["/input", part, "listing"]), listing] |
			some part in ["resource", "proposed"]
			listing := event.input[part].listing
			is_object(listing)
		],
		[[concat("/", ["/input/listings", format_int(i, 10), part]), server] |
			some i in numbers.range(0, count(event.input.listings) - 1)
			some part in ["resource", "proposed"]
			server := event.input.listings[i][part]
			is_object(server)
		],
	),
)

# [pointer, JSON, value] of each root.
_marshalled(roots) := [[root[0], json.marshal(root[1]), root[1]] | some root in roots]

# --- One search first ---------------------------------------------------------------------
# All the roots are searched at once, as JSON, for what a rule below could hide, without a
# regex: the listed names in the text lowercased and without separators; each token shape's
# `hints`; `://`. An event with none of them costs that search. What is found is all a rule
# looks for in a key or a string (a name that is not in the JSON is in no key or string of
# it), so each rule's regex is built from the few names found, not from all of them.
_replaced(roots, credentials) := set() if count(roots) == 0

else := _upserts({entry | some root in roots; some entry in _found(root, ctx)}, _hidden) if {
	ctx := _scan(roots, _config(credentials))
}

_scan(roots, config) := {
	"max_chars": config.max_chars,
	"max_bytes": config.max_bytes,
	"found_names": {config.names[i] | some i in names},
	"found_exact": {config.exact[i] | some i in exact},
	"found_shapes": shapes,
	"suspect": true in [count(names) > 0, count(exact) > 0, count(shapes) > 0, contains(text, "://")],
	"named": _named_pattern(
		{config.spelled[i] | some i in names},
		{config.exact_spelled[i] | some i in exact},
		config.schemes,
	),
	"shapes_pattern": _shapes_pattern(shapes),
	"shapes_replacement": _shapes_replacement(shapes),
} if {
	text := concat(",", [root[1] | some root in roots])
	normal := _normal(text)
	names := {i | some i in numbers.range(0, count(config.names) - 1); contains(normal, config.names[i])}
	exact := {i | some i in numbers.range(0, count(config.exact) - 1); contains(normal, config.exact[i])}
	shapes := [shape | some shape in config.shapes; _holds_any(text, shape.hints)]
}

_holds_any(text, hints) if {
	some hint in hints
	contains(text, hint)
}

# --- What is hidden ---------------------------------------------------------------------------
# [pointer, shown] for each value of a root to replace. A root whose JSON is longer than
# `inspect_max_bytes` is not searched further (each regex costs rego-cpp time per character,
# and every policy decision of the gateway waits on the same thread): it is hidden whole if
# the first search could have found anything in it.
_found(root, ctx) := {[root[0], _hidden]} if {
	count(root[1]) > ctx.max_bytes
	_maybe(root[1], ctx)
} else := set() if {
	count(root[1]) > ctx.max_bytes
} else := set() if {
	not ctx.suspect
} else := (_key_hits(root, ctx) | _flag_hits(root, ctx)) | _string_hits(root, ctx)

# The value of a credential-named key, unless it is ${VAR} references only.
# (`walk(doc, pair)` and indexes: rego-cpp fails on `walk(doc, [path, value])`.)
_key_hits(root, ctx) := {[_pointer(root[0], path), _hidden] |
	count(ctx.found_names) + count(ctx.found_exact) > 0
	walk(root[2], pair)
	path := pair[0]
	key := path[count(path) - 1]
	is_string(key)
	_named(_normal(key), ctx.found_names, ctx.found_exact)
	value := pair[1]
	not _kept(value)
}

# The argument after a credential-named flag in an array (`["--password", "x"]`).
_flag_hits(root, ctx) := {[_pointer(root[0], array.concat(pair[0], [i + 1])), _hidden] |
	count(ctx.found_names) + count(ctx.found_exact) > 0
	walk(root[2], pair)
	items := pair[1]
	is_array(items)
	count(items) > 1
	some i in numbers.range(0, count(items) - 2)
	flag := items[i]
	is_string(flag)
	startswith(flag, "-")
	_named(_normal(trim_left(flag, "-")), ctx.found_names, ctx.found_exact)
	value := items[i + 1]
	is_string(value)
	not _references_only(value)
}

# A string with a credential inside, shown redacted.
_string_hits(root, ctx) := {[_pointer(root[0], path), _where(path, shown)] |
	walk(root[2], pair)
	text := pair[1]
	is_string(text)
	shown := _string_shown(text, ctx)
	shown != text
	path := pair[0]
}

_kept(value) if {
	is_string(value)
	_references_only(value)
}

# A pointer OPA's decision log can follow: OPA does not read ~0/~1 escapes, and URL-escapes
# each token (a key with a space, a slash or a non-ASCII letter is then not found, and its
# value stays in OPA's log). So a path through such a key is cut before it, and what is
# cut to is hidden whole (_where).
_pointer(root, path) := concat("/", array.concat([root], [_token(t) | some t in path])) if {
	every t in path {
		_safe(t)
	}
} else := concat("/", array.concat([root], [_token(t) | some t in array.slice(path, 0, _first_unsafe(path))]))

_first_unsafe(path) := min([i | some i in numbers.range(0, count(path) - 1); not _safe(path[i])])

_safe(token) if is_number(token)

_safe(token) if {
	count(token) <= 256
	regex.match(`^[A-Za-z0-9._$&+:=@-]+$`, token)
}

_token(t) := format_int(t, 10) if is_number(t)

else := t

_where(path, shown) := shown if {
	every t in path {
		_safe(t)
	}
} else := _hidden

# The masks: a value hidden whole wins over the same value shown redacted, and nothing is
# masked inside what is already hidden.
_upserts(found, marker) := {_upsert(pointer, marker) |
	some pointer in hidden
	not _inside(pointer, pointers)
} | {_upsert(entry[0], entry[1]) |
	some entry in found
	entry[1] != marker
	not entry[0] in hidden
	not _inside(entry[0], pointers)
} if {
	pointers := {entry[0] | some entry in found}
	hidden := {entry[0] | some entry in found; entry[1] == marker}
}

_upsert(pointer, value) := {"op": "upsert", "path": pointer, "value": value}

_inside(pointer, pointers) if {
	some other in pointers
	startswith(pointer, concat("", [other, "/"]))
}

# --- Strings ------------------------------------------------------------------------------
# A string with a credential inside is shown with the credential replaced by `***` and the
# rest kept (`--header "Authorization: Bearer ***"`), so the log shows what kind of argument
# it was. A string longer than `inspect_max_chars` is not searched by the rules (rego-cpp's
# regex engine recurses per character: a long run can take seconds or overflow its stack)
# and is hidden whole when the first search could have found something in it. So is a
# string the rules changed that holds a backslash (other than an escaped quote, newline or
# tab) or a control character: rego-cpp sees strings JSON-escaped, the rules stop at a
# backslash, and what follows one is not known to be clean.
_string_shown(text, ctx) := text if {
	not _maybe(text, ctx)
} else := text if {
	_references_only(text)
} else := _hidden if {
	count(text) > ctx.max_chars
} else := _unless_escaped(text, _redacted(text, ctx))

_maybe(text, _) if contains(text, "://")

_maybe(text, ctx) if {
	some shape in ctx.found_shapes
	_holds_any(text, shape.hints)
}

_maybe(text, ctx) if _has_name(text, ctx)

_has_name(text, ctx) if {
	normal := _normal(text)
	some name in (ctx.found_names | ctx.found_exact)
	contains(normal, name)
}

_unless_escaped(text, redacted) := _hidden if {
	redacted != text
	regex.match(`\\[^"nrt]`, text)
} else := redacted

_redacted(text, ctx) := _hide_url_runs(_hide_shapes(_hide_bearer(_hide_named(_hide_userinfo(text), ctx)), ctx))

# user:password@ of a URL (`https://***@host`).
_hide_userinfo(text) := regex.replace(text, `(://)[^/@\s'"\\?#]+@`, "$1***@") if contains(text, "://")

else := text

# Bearer tokens wherever they are (`Bearer ***`).
_hide_bearer(text) := regex.replace(
	text,
	`((?:^|[^A-Za-z0-9_.-]|\\[nrt])[Bb][Ee][Aa][Rr][Ee][Rr](?:[ ]|\t|\\t)+)[A-Za-z0-9._~+/-]+=*`,
	"$1***",
) if contains(lower(text), "bearer")

else := text

# Token shapes of data.json (`ghp_***`): each shape's `keep` is kept, its `secret` hidden;
# the shapes whose hints the first search found, in the order of data.json. The replacement
# names every group: the one that matched holds the `keep`, the others are empty.
_hide_shapes(text, ctx) := regex.replace(text, ctx.shapes_pattern, ctx.shapes_replacement) if {
	some shape in ctx.found_shapes
	_holds_any(text, shape.hints)
} else := text

_shapes_pattern(shapes) := concat("", [
	`(^|[^A-Za-z0-9_-]|\\[nrt])(?:`,
	concat("|", [concat("", ["(", shape.keep, ")", shape.secret]) | some shape in shapes]),
	")",
])

_shapes_replacement(shapes) := concat("", array.concat(
	[concat("", ["$", format_int(i, 10)]) | some i in numbers.range(1, count(shapes) + 1)],
	[_hidden],
))

# `name=value` (`--api-key=***`, `?access_token=***`), `Name: value` (a header in a command
# line: `Authorization: Bearer ***`, `-H 'X-Api-Key: ***'`) and `--name value` with a
# credential-like name; a value of ${VAR} references only is kept. Each alternative is
# (what is kept)(what is hidden). Searched in the lowercased text, cut from the text. The
# names are those the first search found, spelled as listed (`_` for an optional `-`, `_`,
# `.` or space); `[^\s\S]` (nothing) when none was found.
_named_pattern(names, exact, schemes) := concat("", [
	"(", name, quote, space, "=", space, quote, `)([^\s'"\\&#;,]+)|`,
	"(", name, quote, space, ":", space, quote,
	"(?:(?:", concat("|", schemes), `)(?:[ ]|\t|\\t)+)?)([^'"\\\r\n\t]+)|`,
	`((?:^|[ '"]|\\[nrt"])-{1,2}(?:[a-z0-9_.-]{0,30}(?:`, suffixes, ")|(?:", exacts, `))(?:[ ]|\t|\\t)+`,
	quote, `)([^\s'"\\$-][^\s'"\\]*)`,
]) if {
	suffixes := _alternatives(names)
	exacts := _alternatives(exact)
	name := concat("", ["(?:", suffixes, `|(?:^|[^a-z0-9_.-]|\\[nrt])(?:`, exacts, "))"])
	quote := `(?:["']|\\")?`
	space := `(?:[ ]|\t|\\t)*`
}

_alternatives(names) := concat("|", names) if count(names) > 0

else := `[^\s\S]`

_hide_named(text, ctx) := _cut_named(text, ctx.named) if _has_name(text, ctx)

else := text

# More than 32 matches are not cut one by one (that costs rego-cpp time per match squared):
# the string is hidden whole.
_cut_named(text, pattern) := _rebuild(text, pieces, matches) if {
	low := lower(text)
	matches := regex.find_all_string_submatch_n(pattern, low, 33)
	count(matches) > 0
	count(matches) <= 32
	pieces := regex.split(pattern, low)
	count(pieces) == count(matches) + 1
} else := _hidden if {
	count(regex.find_all_string_submatch_n(pattern, lower(text), 33)) > 32
} else := text

# The text again, each match shown by _named_shown. Offsets come from the lowercased text:
# `lower` keeps the length (OPA maps rune by rune; rego-cpp lowercases ASCII only).
_rebuild(text, pieces, matches) := concat("", [part |
	some i in numbers.range(0, count(matches))
	start := _length(array.slice(pieces, 0, i)) + _length([m[0] | some m in array.slice(matches, 0, i)])
	end := start + count(pieces[i])
	part := concat("", [substring(text, start, count(pieces[i])), _named_shown(text, matches, i, end)])
])

_length(texts) := sum([count(t) | some t in texts])

_named_shown(_, matches, i, _) := "" if i == count(matches)

_named_shown(text, matches, i, at) := substring(text, at, count(matches[i][0])) if {
	i < count(matches)
	_references_only(_named_value(matches[i]))
}

_named_shown(text, matches, i, at) := concat("", [substring(text, at, count(_named_kept(matches[i]))), _hidden]) if {
	i < count(matches)
	not _references_only(_named_value(matches[i]))
}

_named_kept(match) := match[1] if match[1] != ""

else := match[3] if match[3] != ""

else := match[5]

_named_value(match) := match[2] if match[1] != ""

else := match[4] if match[3] != ""

else := match[6]

# In a URL's path and query, a run of 20 or more letters, digits, `_` and `-` that mixes
# upper case, lower case and digits (a key in a webhook URL: `hooks.example.com/T0/B0/***`).
# UUIDs, hex digests and words are kept: each lacks one of the three.
_url_pattern := `(://[^/\s'"\\<>?#]*)([^\s'"\\<>]*)`

_hide_url_runs(text) := concat("", [part |
	some i in numbers.range(0, count(urls))
	part := concat("", [pieces[i], _url_shown(urls, i)])
]) if {
	contains(text, "://")
	urls := regex.find_all_string_submatch_n(_url_pattern, text, -1)
	pieces := regex.split(_url_pattern, text)
	count(pieces) == count(urls) + 1
} else := text

_url_shown(urls, i) := "" if i == count(urls)

else := concat("", [urls[i][1], _hide_runs(urls[i][2])])

_hide_runs(rest) := concat("", [part |
	some i in numbers.range(0, count(runs))
	part := concat("", [pieces[i], _run_shown(runs, i)])
]) if {
	runs := regex.find_n(`[A-Za-z0-9_-]{20,}`, rest, -1)
	count(runs) > 0
	pieces := regex.split(`[A-Za-z0-9_-]{20,}`, rest)
	count(pieces) == count(runs) + 1
} else := rest

_run_shown(runs, i) := "" if i == count(runs)

else := _hidden if {
	regex.match(`[0-9]`, runs[i])
	regex.match(`[a-z]`, runs[i])
	regex.match(`[A-Z]`, runs[i])
} else := runs[i]
