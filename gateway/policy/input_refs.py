"""Refuse a policy that reads an input field the gateway never sends.

Such a rule is never true, so a `deny` that reads `input.proposed.comand` silently allows
everything. OPA's type checker finds these with `opa check --schema policies/schemas`; the
embedded engine has no type checker, so this walks every `input.a.b.c` reference of every
module against the input schema (generated from the Structs the gateway encodes) and names
file, line and the fields that exist there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from gateway.policy.sources import PACKAGE

# Strings and comments first, so a message that mentions `input.x` is not a reference.
_STRIP = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`|#[^\n]*')
_REF = re.compile(r"\binput((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")

# A node is the set of field names an object may have at that point; None means "anything"
# (a map such as `memberships` or `headers`, or a value that is not an object).
_Node = dict[str, "_Node"] | None


def strip_code(text: str) -> str:
    """The Rego text with strings and comments blanked (lines and columns kept)."""
    return _STRIP.sub(
        lambda m: " " * len(m.group(0).split("\n")[0]) + "\n" * m.group(0).count("\n"), text
    )


def _resolve(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The object alternatives a schema may be (following $ref and anyOf)."""
    if "$ref" in schema:
        return _resolve(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        return [alt for option in schema["anyOf"] for alt in _resolve(option, defs)]
    return [schema]


def _fields(
    alternatives: list[Mapping[str, Any]], defs: Mapping[str, Any], depth: int = 0
) -> _Node:
    """Merge the alternatives into one tree of known field names (a union, like OPA's)."""
    objects = [a for a in alternatives if a.get("type") == "object"]
    # A map (`additionalProperties`) or a free-form object (a tool's `arguments`: no
    # `properties` at all) may have any key.
    free_form = any("additionalProperties" in o or "properties" not in o for o in objects)
    if depth > 8 or not objects or free_form:
        return None
    merged: dict[str, list[Mapping[str, Any]]] = {}
    for obj in objects:
        for name, prop in obj.get("properties", {}).items():
            merged.setdefault(name, []).extend(_resolve(prop, defs))
    return {name: _fields(alts, defs, depth + 1) for name, alts in merged.items()}


def known_fields(schema: Mapping[str, Any]) -> _Node:
    defs = schema.get("$defs", {})
    return _fields(_resolve(schema, defs), defs)


def _refs(text: str) -> Iterator[tuple[int, list[str]]]:
    stripped = strip_code(text)
    for match in _REF.finditer(stripped):
        line = stripped.count("\n", 0, match.start()) + 1
        yield line, match.group(1).lstrip(".").split(".")


def unknown_input_refs(modules: Mapping[str, str], schema: Mapping[str, Any]) -> list[str]:
    """`file:line: input.a.b is not sent by the gateway (…)` for each unknown reference in the
    `gateway.*` packages (OPA's own `system.*` packages get OPA's input, not the gateway's)."""
    tree = known_fields(schema)
    problems = []
    for path, text in sorted(modules.items()):
        package = PACKAGE.search(text)
        if package is None or not (package[1] + ".").startswith("gateway."):
            continue
        for line, parts in _refs(text):
            node = tree
            for i, part in enumerate(parts):
                if node is None:
                    break
                if part not in node:
                    where = "input" + "".join(f".{p}" for p in parts[:i])
                    problems.append(
                        f"{path}:{line}: input.{'.'.join(parts[: i + 1])} is not sent by the "
                        f"gateway ({where} has: {', '.join(sorted(node))})"
                    )
                    break
                node = node[part]
    return problems
