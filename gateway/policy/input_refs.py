"""Refuse a policy that reads an input field the gateway never sends.

Such a rule is never true, so a `deny` that reads `input.proposed.comand` silently allows
everything. OPA's type checker finds these with `opa check --schema policies/schemas`; the
embedded engine has no type checker, so this checks every reference to `input` of every
module (read from its tokens: gateway/policy/rego_refs.py) against the input schema
(generated from the Structs the gateway encodes) and names file, line and the fields that
exist there.

What is caught: a reference however it is spelled — `input.proposed.comand`,
`input["proposed"]["comand"]`, `input.proposed[`comand`]`, across whitespace, inside a
template string's `{…}`, through an import (`import input.proposed as p` … `p.comand`) — up
to its first key computed at evaluation, and past it where the schema says what every
element is (`input.subject.memberships[e].rol`, `input.listings[i].resource.idd`).

What is not: a field reached through a variable (`x := input.proposed` then `x.comand`,
`some item in input.listings` then `item.resorce`), through a function argument
(`f(input.proposed)` reading `p.comand` inside), through a computed key on an object
(`input.proposed[k]`), or through builtins (`object.get(input, ["proposed", "comand"], 0)`).
These are left alone rather than guessed at (no policy is refused for them); OPA's type
checker, which follows variables, catches most of them: run `opa check --schema`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from gateway.policy.rego_refs import input_references, package_of


class Elements(NamedTuple):
    """An array, or an object used as a map (`memberships`, `headers`): any key, one type
    of value."""

    value: _Node


# A node is the set of field names an object may have at that point (each with the node of
# its value), the elements of an array or map, or None: anything (a free-form object such
# as a tool's `arguments`, a value that is not an object, or alternatives that disagree).
_Node = dict[str, "_Node"] | Elements | None


def _resolve(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The alternatives a schema may be (following $ref and anyOf), nulls left out."""
    if "$ref" in schema:
        return _resolve(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        return [alt for option in schema["anyOf"] for alt in _resolve(option, defs)]
    return [] if schema.get("type") == "null" else [schema]


def _node(alternatives: list[Mapping[str, Any]], defs: Mapping[str, Any], depth: int = 0) -> _Node:
    """Merge the alternatives into one tree of known field names (a union, like OPA's)."""
    structs = [a for a in alternatives if a.get("type") == "object" and "properties" in a]
    maps = [
        a
        for a in alternatives
        if a.get("type") == "object"
        and "properties" not in a
        and isinstance(a.get("additionalProperties"), dict)
    ]
    arrays = [a for a in alternatives if a.get("type") == "array"]
    free_form = [a for a in alternatives if a.get("type") == "object" and a not in structs + maps]
    if depth > 8 or free_form or sum(map(bool, (structs, maps + arrays))) != 1:
        return None
    if structs:
        merged: dict[str, list[Mapping[str, Any]]] = {}
        for obj in structs:
            for name, prop in obj["properties"].items():
                merged.setdefault(name, []).extend(_resolve(prop, defs))
        return {name: _node(alts, defs, depth + 1) for name, alts in merged.items()}
    values = [a["additionalProperties"] for a in maps] + [a.get("items", {}) for a in arrays]
    return Elements(_node([alt for v in values for alt in _resolve(v, defs)], defs, depth + 1))


def known_fields(schema: Mapping[str, Any]) -> _Node:
    defs = schema.get("$defs", {})
    return _node(_resolve(schema, defs), defs)


def _unknown(tree: _Node, path: tuple[str | None, ...]) -> tuple[int, dict[str, _Node]] | None:
    """(index, the object there) of the first key of `path` the schema does not have."""
    node = tree
    for i, key in enumerate(path):
        if isinstance(node, Elements):
            node = node.value
        elif isinstance(node, dict) and key is not None:
            if key not in node:
                return i, node
            node = node[key]
        else:  # anything, or a computed key on an object
            return None
    return None


def unknown_input_refs(modules: Mapping[str, str], schema: Mapping[str, Any]) -> list[str]:
    """`file:line: input.a.b is not sent by the gateway (…)` for each unknown reference in
    every package but OPA's own `system.*` (those get OPA's input, not the gateway's)."""
    tree = known_fields(schema)
    problems = []
    for path, text in sorted(modules.items()):
        package = package_of(text)
        if package is None or package.split(".")[0] == "system":
            continue
        for ref in input_references(text):
            unknown = _unknown(tree, ref.path)
            if unknown is None:
                continue
            at, node = unknown
            problems.append(
                f"{path}:{ref.line}: {ref.text(at + 1)} is not sent by the gateway "
                f"({ref.text(at)} has: {', '.join(sorted(node))})"
            )
    return problems
