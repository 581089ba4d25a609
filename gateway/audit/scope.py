"""The request scope: what one request (an HTTP request, or one MCP message) carries from
its first step to its last — its id, method and path, the decision records taken while it is
served, and the values a store read ahead for a later step of the same request.

A leaf: it imports nothing of the gateway but domain types, so every layer may read it (the
stores their read-ahead, the log formatter the request and decision ids) without depending
on what fills it. The audit recorder (gateway/audit/recorder.py) enters it and owns what
happens to its records; the HTTP edge and the MCP handlers enter it through the recorder.

Read-ahead: a warm merged-view read used to cost three Redis round trips; the identity step
now fetches the view entry and the generations with the memberships it reads anyway, and the
view cache finds them here. Only within one request that reads (a request that writes could
otherwise read back what it read ahead before its own write), never across requests: a value
here is as fresh as a read the view cache would have made a moment later, and the cache's
check (every generation read after the entry) is the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from gateway.domain.requests import RequestInfo

if TYPE_CHECKING:  # the records are the audit package's; this module only holds them
    from gateway.audit.records import DecisionRecord


class RequestScope:
    __slots__ = ("_decide", "_readahead", "notes", "records", "request")

    def __init__(self, request: RequestInfo, *, read_ahead: bool | Callable[[], bool]) -> None:
        """`read_ahead`: whether the request may read ahead, or how to tell once it is known
        (the edge enters the scope before routing has found the handler that says)."""
        self.request = request
        # What the request was about beyond its path (the MCP method), for its access line.
        self.notes: dict[str, str] = {}
        # Taken in order; the last one settled the request (X-Decision-Id).
        self.records: list[DecisionRecord] = []
        self._decide = read_ahead if callable(read_ahead) else None
        self._readahead: dict[str, bytes | None] | None = {} if read_ahead is True else None

    @property
    def readahead(self) -> dict[str, bytes | None] | None:
        """What was read ahead, or None when this request may not read ahead."""
        if self._decide is not None:
            decide, self._decide = self._decide, None
            self._readahead = {} if decide() else None
        return self._readahead

    @property
    def decision_ids(self) -> list[str]:
        return [record.decision_id for record in self.records]


# A route handler's `opt` key: its requests only read the stores whatever their HTTP method
# (`/mcp`: every MCP message is a POST, none writes a server, an enterprise or a view), so
# they may read ahead like a GET.
READS_ONLY = "reads_stores_only"

_current: ContextVar[RequestScope | None] = ContextVar("request_scope", default=None)


def current() -> RequestScope | None:
    """The scope of the request being served here, or None outside any request."""
    return _current.get()


@contextmanager
def entered(scope: RequestScope) -> Iterator[RequestScope]:
    """Make `scope` the current one for this task until the block ends, whatever scope the
    task inherited (an MCP session's task inherits the HTTP request that opened it)."""
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


def reading_ahead() -> bool:
    scope = _current.get()
    return scope is not None and scope.readahead is not None


def remember(values: dict[str, bytes | None]) -> None:
    scope = _current.get()
    if scope is not None and scope.readahead is not None:
        scope.readahead.update(values)


def recall(keys: Sequence[str]) -> list[bytes | None] | None:
    """The values of all `keys`, taken out of the read-ahead (each is used once), or None
    when any is missing (the caller reads for itself)."""
    scope = _current.get()
    found = scope.readahead if scope is not None else None
    if found is None:
        return None
    try:
        return [found.pop(key) for key in keys]
    except KeyError:  # what was taken before the missing one is read again by the caller
        return None
