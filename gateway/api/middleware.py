"""ASGI middleware: the `X-Decision-Id` header joins a response to its decision-log record."""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway.policy.decider import request_decisions


def decision_id_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        taken: list[str] = []
        token = request_decisions.set(taken)

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start" and taken:
                # The last decision is the one that settled the request (e.g. the denial).
                headers = list(message.get("headers", []))
                headers.append((b"x-decision-id", taken[-1].encode()))
                message = {**message, "headers": headers}  # type: ignore[typeddict-item]
            await send(message)

        try:
            await app(scope, receive, send_with_header)
        finally:
            request_decisions.reset(token)

    return middleware
