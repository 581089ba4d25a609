"""What the edge (gateway/api/edge/layer.py) needs to serve every request in a request scope
(gateway/audit/recorder.py): a request id (`X-Request-Id`, kept from the client when
well-formed) that groups its decisions in the log, and whether the request may read ahead.
When the response starts, the recorder queues the request's records with its status and the
edge sends `X-Decision-Id`, joining the response to the decision that settled it."""

from __future__ import annotations

from litestar.types import Scope

from gateway.audit.scope import READS_ONLY
from gateway.domain.ids import REQUEST_ID, matches, new_uuid

_READS = frozenset({"GET", "HEAD"})


def request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if matches(REQUEST_ID, text):
                return text
    return new_uuid()


def reads_only(scope: Scope) -> bool:
    """The request may read ahead: a GET or HEAD, or a route that declares it writes no
    store (READS_ONLY in its handler's `opt`)."""
    if scope.get("method") in _READS:
        return True
    handler = scope.get("route_handler")
    return bool(getattr(handler, "opt", None) and handler.opt.get(READS_ONLY))
