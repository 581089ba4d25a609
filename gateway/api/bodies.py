"""Validation messages that name the offending field, as the contract asks."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Request

from gateway.domain.servers import READ_ONLY_FIELDS

_UNKNOWN = re.compile(r"Object contains unknown field `([^`]*)`")
_AT = re.compile(r" - at (?:`key` in )?`\$\.?([^`]*)`$")
_NAMED = re.compile(r"`([a-z_]+)`")


def describe(message: str) -> tuple[str | None, str]:
    """(field, message) for a msgspec validation message."""
    unknown = _UNKNOWN.search(message)
    if unknown:
        name = unknown.group(1)
        why = "is read-only" if name in READ_ONLY_FIELDS else "is not a known field"
        return name, f"`{name}` {why}"
    at = _AT.search(message)
    if at:
        return at.group(1), message
    # Cross-field checks (__post_init__, patched()) name the field first, in backticks.
    named = _NAMED.search(message)
    return (named.group(1) if named else None), message


def _full_body_error(request: Request[Any, Any, Any]) -> str | None:
    """Litestar drops msgspec's " - at `$.path`" from body errors; decode the (already read)
    body once more against the route's body type to get the message with its path back."""
    field = request.route_handler.parsed_data_field
    raw = getattr(request._connection_state, "body", None)  # cached by Litestar
    if field is None or not isinstance(raw, bytes):
        return None
    try:
        msgspec.json.decode(raw, type=field.annotation)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return str(exc)
    return None


def body_errors(request: Request[Any, Any, Any], extra: Any) -> list[dict[str, Any]]:
    """Rewrite Litestar's `extra` (key "data" for any body error) to name the field."""
    if not isinstance(extra, list):
        return []
    out: list[dict[str, Any]] = []
    for item in extra:
        if isinstance(item, dict) and item.get("source") == "body":
            full = _full_body_error(request) or str(item.get("message", ""))
            field, message = describe(full)
            out.append({**item, "key": field or item.get("key"), "message": message})
        else:
            out.append(item)
    return out
