"""What a reload refuses besides what does not compile or reads unsent input: two mistakes
that compile on the embedded engine and still serve the wrong thing.

- A rule named `allow` in package `gateway.authz`. Grants are `grant` (ADR 0050); nothing
  reads `allow`, so a team module still written the old way would grant nothing, silently.
- A package annotated twice: two `# METADATA` blocks of package scope for one package (in
  one module or two). OPA refuses the whole bundle ("package annotation redeclared") while
  rego-cpp runs it, so the engines would serve different revisions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from gateway.policy.rego_refs import package_of, tokenize

GRANTS_PACKAGE = "gateway.authz"
_OPENING = {"(": 1, "[": 1, "{": 1, "${": 1, ")": -1, "]": -1, "}": -1}
_NOT_RULES = frozenset({"package", "import", "default", "else"})
_SCOPE = re.compile(r"^#\s*scope:\s*(\w+)")


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def rule_heads(text: str) -> Iterator[tuple[str, int]]:
    """(name, line) of each rule definition: an identifier starting a statement at the top
    level (`default x := …` defines `x`)."""
    depth = 0
    tokens = tokenize(text)
    for i, token in enumerate(tokens):
        starts = i == 0 or token.newline_before
        if depth == 0 and starts and token.kind == "ident":
            if token.text == "default" and i + 1 < len(tokens):
                yield tokens[i + 1].text, _line(text, tokens[i + 1].offset)
            elif token.text not in _NOT_RULES:
                yield token.text, _line(text, token.offset)
        if token.kind == "op":
            depth += _OPENING.get(token.text, 0)


def package_annotations(text: str) -> list[int]:
    """The lines of the module's `# METADATA` blocks of package scope: one right above the
    `package` line (the default there), or any saying `scope: package`."""
    lines = text.splitlines()
    found = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "# METADATA":
            i += 1
            continue
        start = i
        scope = None
        i += 1
        while i < len(lines) and lines[i].lstrip().startswith("#"):
            match = _SCOPE.match(lines[i].strip())
            scope = match[1] if match else scope
            i += 1
        after = next((line for line in lines[i:] if line.strip()), "")
        if (scope or ("package" if after.startswith("package ") else "rule")) == "package":
            found.append(start + 1)
    return found


def convention_problems(modules: Mapping[str, str]) -> list[str]:
    """`file:line: why` for each rule named `allow` in gateway.authz and each package
    annotated more than once."""
    problems = []
    annotated: dict[str, str] = {}
    for path, text in sorted(modules.items()):
        package = package_of(text)
        if package == GRANTS_PACKAGE:
            problems += [
                f"{path}:{line}: `allow` in package {GRANTS_PACKAGE} is never read: a grant "
                "is `grant if …` (ADR 0050), so this rule would grant nothing"
                for name, line in rule_heads(text)
                if name == "allow"
            ]
        for line in package_annotations(text):
            where = f"{path}:{line}"
            if package in annotated:
                problems.append(
                    f"{where}: package {package} is already annotated (at {annotated[package]}):"
                    " OPA refuses a package annotated twice; put this METADATA on a rule"
                )
            else:
                annotated[package or ""] = where
    return problems
