"""Request-scoped read-ahead: values a store read early, in a round trip it made anyway,
for a later step of the same request to use instead of a round trip of its own.

A warm merged-view read used to cost three Redis round trips: the user's membership hints;
the memberships and enterprise records; then the generations and the cached view. The
identity step now fetches the view entry and the user's generation with the hints, and each
enterprise's generation with its membership; the view cache finds them here. Only within
one request (the HTTP middleware opens a fresh one per GET or HEAD: a request that writes
could otherwise read back what it read ahead before its own write), never across requests: a
value here is as fresh as a read the view cache would have made a moment later, and the
cache's check (every generation read after the entry) is the same. Outside a request (no
read-ahead open) every step reads for itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar

_current: ContextVar[dict[str, bytes | None] | None] = ContextVar("readahead", default=None)


def open_readahead() -> object:
    """A fresh, empty read-ahead for the current request; returns the token to `close`."""
    return _current.set({})


def close_readahead(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


def active() -> bool:
    return _current.get() is not None


def remember(values: dict[str, bytes | None]) -> None:
    found = _current.get()
    if found is not None:
        found.update(values)


def recall(keys: Sequence[str]) -> list[bytes | None] | None:
    """The values of all `keys`, taken out of the read-ahead (each is used once), or None
    when any is missing (the caller reads for itself)."""
    found = _current.get()
    if found is None or any(key not in found for key in keys):
        return None
    return [found.pop(key) for key in keys]
