"""The admission 503 is built fresh for each refusal: `before_send` hooks put their headers
into the start message itself, and a message shared between refusals grew by the security
headers (~200 bytes) on every one of them."""

from __future__ import annotations

import copy
from typing import Any

import msgspec

from gateway.api.edge.admission import admission_middleware
from gateway.api.edge.security_headers import add_security_headers
from gateway.api.errors import ErrorBody


async def test_every_refusal_sends_the_same_answer() -> None:
    async def never(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("a request past the limit reached the app")

    wrap, stats = admission_middleware(0)
    gated = wrap(never)
    scope = {"type": "http", "method": "GET", "path": "/v1/mcp-servers"}
    answers: list[list[Any]] = []

    async def send(message: Any) -> None:
        await add_security_headers(message, scope)  # as Litestar runs it on every message
        answers[-1].append(copy.deepcopy(message))  # as it went out, not as it is later

    for _ in range(3):
        answers.append([])
        await gated(scope, None, send)
    assert answers[0] == answers[1] == answers[2]
    assert stats.refused == 3
    start, body = answers[0]
    assert start["status"] == 503
    assert len(start["headers"]) == len({name for name, _ in start["headers"]})  # no repeats
    decoded = msgspec.json.decode(body["body"], type=ErrorBody)
    assert decoded.status_code == 503 and "limit of 0" in decoded.detail
