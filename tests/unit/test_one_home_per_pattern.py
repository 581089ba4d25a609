"""Each id and name pattern is written once (gateway/domain/ids.py) and every other module
uses it from there: a second copy is how `^…$` and `fullmatch` drifted apart before."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

from gateway.domain import ids

PACKAGE = Path(ids.__file__).resolve().parents[1]
# A character class with a repetition: what a validation pattern looks like.
_LOOKS_LIKE_A_PATTERN = re.compile(r"\[[^\]]+\](?:\{\d|[+*])")


def _pattern_literals() -> list[tuple[Path, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and _LOOKS_LIKE_A_PATTERN.search(node.value)
            ):
                found.append((path, node.value))
    return found


def test_no_pattern_is_written_twice() -> None:
    counts = Counter(value for _, value in _pattern_literals())
    assert [value for value, n in counts.items() if n > 1] == []


def test_the_id_patterns_are_only_in_domain_ids() -> None:
    bodies = [
        r"ent_[0-9a-z_]{1,64}",
        r"mcp_[0-9a-z]{1,64}",
        r"[A-Z_][A-Z0-9_]{0,127}",
        r"[A-Za-z0-9._@|:+-]{1,256}",
        r"[a-z0-9][a-z0-9._-]{0,127}",
    ]
    elsewhere = [
        (path.relative_to(PACKAGE.parent), value)
        for path, value in _pattern_literals()
        if path.name != "ids.py" and any(body in value for body in bodies)
    ]
    assert elsewhere == []


def test_every_pattern_refuses_a_trailing_newline() -> None:
    samples = {
        ids.USER_ID: "bob",
        ids.ENTERPRISE_ID: "ent_1",
        ids.SERVER_ID: "mcp_1",
        ids.ENV_VAR: "X",
        ids.LISTING_ID: "time",
        ids.DISPLAY_NAME: "Acme",
        ids.REQUEST_ID: "r-1",
    }
    for pattern, good in samples.items():
        assert ids.matches(pattern, good)
        assert not ids.matches(pattern, good + "\n"), pattern
        assert not ids.matches(pattern, good + "\r\n"), pattern


def test_reserved_user_ids_are_refused() -> None:
    for reserved in (".", "..", "enterprise"):
        assert not ids.matches(ids.USER_ID, reserved)
    for fine in ("enterprises", "...", "a.b", "alice@example.com"):
        assert ids.matches(ids.USER_ID, fine)
