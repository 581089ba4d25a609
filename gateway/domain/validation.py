"""One reading of msgspec's validation errors: which field, and what is wrong with it.

msgspec says `Expected `int`, got `str` - at `$.values[0]``; callers (settings, request
bodies, token claims, the catalog) name the field to people from the pair this returns.
"""

from __future__ import annotations

import re

import msgspec

_AT = re.compile(r"^(?P<message>.*?) - at (?:`key` in )?`\$\.?(?P<path>[^`]*)`$", re.DOTALL)
_NAMED = re.compile(r"^Object (?P<what>missing required|contains unknown) field `(?P<name>[^`]*)`$")
_WHAT = {"missing required": "missing required field", "contains unknown": "unknown field"}


def field_error(exc: msgspec.ValidationError) -> tuple[str, str]:
    """(`a.b[0]` — the field path, `""` for the whole document —, the message without it).
    A missing or unknown field is named in the path (`missing required field`,
    `unknown field`)."""
    text = str(exc)
    at = _AT.match(text)
    message, path = (at["message"], at["path"]) if at else (text, "")
    named = _NAMED.match(message)
    if named:
        path = f"{path}.{named['name']}" if path else named["name"]
        message = _WHAT[named["what"]]
    return path, message
