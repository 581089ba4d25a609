"""ASGI middleware: every request gets a request id (`X-Request-Id`, kept from the client
when well-formed) that groups its decisions in the log, and the `X-Decision-Id` header that
joins the response to the decision that settled it. When the response starts, its status
goes into the request's decision records and they go to the decision log's writer; with
GATEWAY_AUDIT_REQUIRED the response waits for them to be written, and becomes a 503 when
they cannot be."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway.audit.records import DecisionRecord, HTTPInfo
from gateway.audit.writer import AuditWriter, LogUnavailable
from gateway.domain.ids import REQUEST_ID, matches
from gateway.policy.decider import request_records
from gateway.policy.inputs import RequestInfo, current_request

_UNLOGGED = msgspec.json.encode(
    {"status_code": 503, "detail": "the decision log cannot record this request; retry"}
)


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
            replaced = False

            async def send_logged(message: Message) -> None:
                nonlocal replaced
                if replaced:
                    return  # the original body of a response that became a 503
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers", []))
                    headers.append((b"x-request-id", req_id.encode()))
                    if taken:
                        # The last decision is the one that settled the request (the denial).
                        headers.append((b"x-decision-id", taken[-1].decision_id.encode()))
                        records = _with_status(taken, message["status"])
                        taken.clear()
                        writer = writer_of(scope)
                        if writer is not None and writer.required:
                            try:
                                await writer.write(records)
                            except LogUnavailable:
                                replaced = True
                                await _send_unlogged(send, req_id)
                                return
                        elif writer is not None:
                            writer.submit(records)
                    message = {**message, "headers": headers}  # type: ignore[typeddict-item]
                await send(message)

            try:
                await app(scope, receive, send_logged)
            finally:
                if taken:  # no response was started (the client went away): still logged
                    writer = writer_of(scope)
                    if writer is not None:
                        writer.submit(list(taken))
                request_records.reset(records_token)
                current_request.reset(request_token)

        return middleware

    return wrap


async def _send_unlogged(send: Send, req_id: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_UNLOGGED)).encode()),
                (b"retry-after", b"1"),
                (b"x-request-id", req_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _UNLOGGED, "more_body": False})
