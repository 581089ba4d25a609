"""ASGI middleware: every request gets a request id (`X-Request-Id`, kept from the client
when well-formed) that groups its decisions in the log, and the `X-Decision-Id` header that
joins the response to the decision that settled it."""

from __future__ import annotations

import uuid

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway.domain.ids import REQUEST_ID, matches
from gateway.policy.decider import request_decisions
from gateway.policy.inputs import RequestInfo, current_request


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if matches(REQUEST_ID, text):
                return text
    return str(uuid.uuid4())


def request_context_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        req_id = _request_id(scope)
        taken: list[str] = []
        decisions_token = request_decisions.set(taken)
        request_token = current_request.set(
            RequestInfo(method=scope.get("method"), path=scope.get("path"), req_id=req_id)
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", req_id.encode()))
                if taken:
                    # The last decision is the one that settled the request (e.g. the denial).
                    headers.append((b"x-decision-id", taken[-1].encode()))
                message = {**message, "headers": headers}  # type: ignore[typeddict-item]
            await send(message)

        try:
            await app(scope, receive, send_with_headers)
        finally:
            request_decisions.reset(decisions_token)
            current_request.reset(request_token)

    return middleware
