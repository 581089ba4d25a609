"""ASGI middleware: every request gets a request id (`X-Request-Id`, kept from the client
when well-formed) that groups its decisions in the log, and the `X-Decision-Id` header that
joins the response to the decision that settled it. When the response starts, its status
goes into the request's decision records and they go to the decision log's writer (with
GATEWAY_AUDIT_REQUIRED the Authorizer has written each already, before it took effect)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway.audit.records import DecisionRecord, HTTPInfo
from gateway.audit.writer import AuditWriter
from gateway.domain.ids import REQUEST_ID, matches
from gateway.policy.decider import request_records
from gateway.policy.inputs import RequestInfo, current_request
from gateway.stores.readahead import close_readahead, open_readahead

_READS = frozenset({"GET", "HEAD"})


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if matches(REQUEST_ID, text):
                return text
    return str(uuid.uuid4())


def _with_status(records: list[DecisionRecord], status: int) -> list[DecisionRecord]:
    return [
        msgspec.structs.replace(
            r, http=HTTPInfo(method=r.http.method, path=r.http.path, status=status)
        )
        for r in records
    ]


def request_context_middleware(
    writer_of: Callable[[Scope], AuditWriter | None],
) -> Callable[[ASGIApp], ASGIApp]:
    """`writer_of` finds the running gateway's writer (None before the lifespan opened it)."""

    def _submit(scope: Scope, records: list[DecisionRecord]) -> None:
        writer = writer_of(scope)
        if writer is not None and not writer.required:
            writer.submit(records)

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            req_id = _request_id(scope)
            taken: list[DecisionRecord] = []
            records_token = request_records.set(taken)
            request_token = current_request.set(
                RequestInfo(method=scope.get("method"), path=scope.get("path"), req_id=req_id)
            )
            # Reads only: a request that writes could otherwise read back what it read
            # ahead before its own write (gateway/stores/readahead.py).
            readahead_token = open_readahead() if scope.get("method") in _READS else None

            async def send_logged(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers", []))
                    headers.append((b"x-request-id", req_id.encode()))
                    if taken:
                        # The last decision is the one that settled the request (the denial).
                        headers.append((b"x-decision-id", taken[-1].decision_id.encode()))
                        _submit(scope, _with_status(taken, message["status"]))
                        taken.clear()
                    message = {**message, "headers": headers}  # type: ignore[typeddict-item]
                await send(message)

            try:
                await app(scope, receive, send_logged)
            finally:
                if taken:  # no response was started (the client went away): still logged
                    _submit(scope, list(taken))
                request_records.reset(records_token)
                current_request.reset(request_token)
                if readahead_token is not None:
                    close_readahead(readahead_token)

        return middleware

    return wrap
