"""A bundle file's digest as OPA computes it when it verifies a signed bundle (OPA v1.22.3,
`bundle/hash.go` and `bundle.VerifyBundleFile`): a `.rego` file's bytes as they are; a
structured file (`data.json`, `.manifest`) parsed and walked — an object as `{`, each key in
sorted order as Go's `encoding/json` writes a string (HTML escaping off), `:`, the value's
digest, `,` between items, `}`; an array likewise with `[`/`]`; a primitive as Go writes it.

A number is hashed as the literal the file holds (OPA decodes with `UseNumber`). The gateway
writes every structured file of its bundles itself with msgspec, so the literal is what
msgspec writes for that number: the same encoder is used here.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

_encode = msgspec.json.Encoder().encode
# What Go's encoder writes for the characters it escapes (Go 1.22 and later: \b and \f short).
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPES |= {"\b": "\\b", "\f": "\\f", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json_string(text: str) -> bytes:
    """`text` as Go's `json.Encoder` with `SetEscapeHTML(false)` writes it."""
    out = ['"']
    for char in text:
        escaped = _ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif char < " ":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out).encode()


def _walk(value: Any, digest: Any) -> None:
    if isinstance(value, dict):
        digest.update(b"{")
        for i, key in enumerate(sorted(value)):
            if i:
                digest.update(b",")
            digest.update(go_json_string(key))
            digest.update(b":")
            _walk(value[key], digest)
        digest.update(b"}")
    elif isinstance(value, list):
        digest.update(b"[")
        for i, item in enumerate(value):
            if i:
                digest.update(b",")
            _walk(item, digest)
        digest.update(b"]")
    elif isinstance(value, str):
        digest.update(go_json_string(value))
    else:  # bool, None, int, float: the literal the file holds
        digest.update(_encode(value))


def structured_digest(value: Any) -> str:
    """The SHA-256 OPA computes for a structured file holding `value` (hex)."""
    digest = hashlib.sha256()
    _walk(value, digest)
    return digest.hexdigest()


def raw_digest(data: bytes) -> str:
    """The SHA-256 OPA computes for any other file: its bytes (hex)."""
    return hashlib.sha256(data).hexdigest()
