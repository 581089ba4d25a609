"""A merged view as it was computed, with what was made from it.

While the view's stamp is current (gateway/stores/redis/view_cache.py), every request for it
gets the same snapshot, so a page encoded once — its bytes and its ETag — is sent again as
bytes: nothing is decoded or encoded on a warm read. A snapshot never changes; a write makes
a new one."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from gateway.domain.servers import EnterpriseMCPServer, MCPServerConfig

T = TypeVar("T")

# Distinct pages kept per snapshot (limit and cursor): a client paging a large view keeps a
# few; a caller varying its `limit` cannot grow one without bound.
MAX_ENCODINGS = 8


class ViewSnapshot:
    __slots__ = ("_made", "items")

    def __init__(self, items: list[MCPServerConfig | EnterpriseMCPServer]) -> None:
        self.items = items
        self._made: dict[Hashable, Any] = {}

    def made(self, key: Hashable, make: Callable[[], T]) -> T:
        """`make()`'s result for `key`, made once per snapshot (the oldest beyond
        MAX_ENCODINGS is dropped)."""
        try:
            return self._made[key]  # type: ignore[no-any-return]
        except KeyError:
            pass
        value = make()
        if len(self._made) >= MAX_ENCODINGS:
            del self._made[next(iter(self._made))]
        self._made[key] = value
        return value
