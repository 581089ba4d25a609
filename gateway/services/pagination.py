"""Cursor paging over id-sorted lists: the cursor is the last id served, opaque to clients."""

from __future__ import annotations

import base64
import binascii
import operator
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from gateway.domain.ids import CURSOR_KEY, matches
from gateway.errors import UnprocessableInput

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


T = TypeVar("T", bound=Any)


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        last_id = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise UnprocessableInput.field("cursor", "not a cursor we issued") from exc
    if not matches(CURSOR_KEY, last_id):
        raise UnprocessableInput.field("cursor", "not a cursor we issued")
    return last_id


def page(
    items: Sequence[T],
    *,
    limit: int,
    cursor: str | None,
    key: Callable[[T], str] = operator.attrgetter("id"),
) -> tuple[list[T], str | None]:
    """`items` sorted by `key` (the id). Returns the page and the next cursor (None at the end)."""
    after = decode_cursor(cursor) if cursor else None
    start = 0
    if after is not None:
        start = next((i for i, item in enumerate(items) if key(item) > after), len(items))
    chunk = list(items[start : start + limit])
    more = start + limit < len(items)
    return chunk, (encode_cursor(key(chunk[-1])) if more and chunk else None)
