# Adversarial cases for gateway/policy/rego_refs.py: every reference to `input` and every
# impure builtin here must be found where `opa parse` finds it, and nothing else.
# Not a policy, nor opa-fmt formatted: test_rego_refs_match_opa.py reads it (# input.x is none).
package gateway.cases

import input.proposed as p
import input.request

# Brackets, raw strings and escapes spell keys.
bracket if input["proposed"]["comand"] == "a"

mixed if input.proposed["comand"] == input["proposed"].command

raw_key if input.proposed[`comand`] == `#` # the `#` in a raw string is not a comment

escaped_key if input["pro\u0070osed"]["co\"mand"] == "\"input.not_a_ref\""

parenthesized_key if input[("proposed")].comand

# Strings that look like code.
strings := ["input.proposed.comand # not a comment", "time.now_ns()", `
	input.request.req_id
	time.now_ns()
`]

hash_in_string if {
	x := "# input.not_a_ref"
	x == input.proposed.name # input.not_a_ref either
}

# A computed key is dynamic: these keys are not known before evaluation.
computed if input.proposed[input.request.method] == 1

index if input.proposed.args[0] == "-y"

var_key if {
	some k
	input.request[k] == 1
}

wildcard contains x if x := input.subject.memberships[_].role

# input taken whole, or input.request.
bound if {
	x := input
	x.proposed.comand == 1
}

iterated if {
	some k in input.request
	k == "x"
}

iterated_pair if {
	some k, v in input.request
	k == v
}

every_field if {
	every k, v in input.request {
		k != v
	}
}

passed := object.get(input, ["request", "req_id"], null)

walked := [path | walk(input.request, [path, _])]

key_of_object := {input: 1}

not_a_ref if not input.proposed.enabled

# Imports.
through_import if p.comand == request.req_id

# Impure builtins, wherever they hide.
clock if time.now_ns() > 0

helper := rand.intn("seed", 10)

in_else := 1 if {
	input.action == "a"
} else := uuid.rfc4122("x")

comprehension := [x | some x in [1]; x < time.now_ns()]

nested := count([1, time.now_ns()])

# A `with` replaces a value: its target is not read.
mocked if clock with time.now_ns as 1

replaced if bracket with input.proposed as {"comand": "a"}

replaced_from_input if bracket with input.proposed as input.resource

# Template strings: their literal parts are strings, their {expressions} are code.
template := $"input.not_a_ref \{ {input.proposed.command} {concat("}", [input.action])}"

raw_template := $`input.not_a_ref
	{input.request["req_id"]} } {time.now_ns()}`

nested_template := $"{$"{input.proposed.url}"}"

# Not input: keys and other roots named like it.
not_input if {
	data.input.x == 1
	x := {"input": 1}
	x.input == 1
	input.input == 1
}

unicode if "é ü" != input.proposed.description

multi_line_array := [
	input.proposed.transport,
	input.resource["type"],
]

number := 1.5e3 + input.context.counts.personal_servers
