"""ASGI middleware: every request is served in a request scope (gateway/audit/recorder.py):
a request id (`X-Request-Id`, kept from the client when well-formed) that groups its
decisions in the log, and the `X-Decision-Id` header that joins the response to the decision
that settled it. When the response starts, the recorder queues the request's records with
its status."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.edge.metrics import CLIENT_CLOSED
from gateway.api.edge.paths import request_path
from gateway.audit.recorder import AuditRecorder
from gateway.audit.scope import READS_ONLY, RequestScope
from gateway.domain.ids import REQUEST_ID, matches

_READS = frozenset({"GET", "HEAD"})
access = logging.getLogger("gateway.access")


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if matches(REQUEST_ID, text):
                return text
    return str(uuid.uuid4())


def _reads_only(scope: Scope) -> bool:
    """The request may read ahead: a GET or HEAD, or a route that declares it writes no
    store (READS_ONLY in its handler's `opt`)."""
    if scope.get("method") in _READS:
        return True
    handler = scope.get("route_handler")
    return bool(getattr(handler, "opt", None) and handler.opt.get(READS_ONLY))


def _access(served: RequestScope, status: int, seconds: float) -> None:
    request = served.request
    noted = "".join(f" {k}={v}" for k, v in served.notes.items())
    access.info("%s %s %d %.1f ms%s", request.method, request.path, status, seconds * 1000, noted)


def request_context_middleware(
    recorder_of: Callable[[], AuditRecorder | None], *, access_log: bool = True
) -> Callable[[ASGIApp], ASGIApp]:
    """`recorder_of` finds the running gateway's recorder (None before the lifespan opened
    it: nothing can be decided then either). `access_log`: one INFO line per request on the
    `gateway.access` logger — method, path, status, time, and what the request noted (the
    MCP method) — inside the scope, so a JSON line carries its request and decision ids."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            recorder = recorder_of()
            if scope["type"] != ScopeType.HTTP or recorder is None:
                await app(scope, receive, send)
                return
            req_id = _request_id(scope)
            method = scope.get("method")
            # Reads only may read ahead: a request that writes could otherwise read back
            # what it read ahead before its own write (gateway/audit/scope.py).
            with recorder.request_scope(
                method, request_path(scope), req_id, read_ahead=_reads_only(scope)
            ) as served:
                started = time.perf_counter()
                status = CLIENT_CLOSED

                async def send_logged(message: Message) -> None:
                    nonlocal status
                    if message["type"] == "http.response.start":
                        status = message["status"]
                        headers = list(message.get("headers", []))
                        headers.append((b"x-request-id", req_id.encode()))
                        settled = recorder.responded(served, message["status"])
                        if settled is not None:
                            headers.append((b"x-decision-id", settled.encode()))
                        message = {**message, "headers": headers}  # type: ignore[typeddict-item]
                    await send(message)

                try:
                    await app(scope, receive, send_logged)
                finally:
                    if access_log:
                        _access(served, status, time.perf_counter() - started)

        return middleware

    return wrap
