"""The admission 503 is built fresh for each refusal: the edge adds its headers (ids, security
headers) to the start message's list, and a list shared between refusals grew by them
(~200 bytes) on every one of them."""

from __future__ import annotations

import copy
from typing import Any

import msgspec

from gateway.api.edge.layer import Edge
from gateway.api.errors import ErrorBody


async def test_every_refusal_sends_the_same_answer() -> None:
    async def never(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("a request past the limit reached the app")

    edge = Edge(
        max_in_flight=0, body_timeout_seconds=5, allowed_origins=(), recorder_of=lambda: None
    )
    gated = edge.wrap(never)
    answers: list[list[Any]] = []

    async def send(message: Any) -> None:
        answers[-1].append(copy.deepcopy(message))  # as it went out, not as it is later

    for _ in range(3):
        answers.append([])
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/v1/mcp-servers",
            "headers": [(b"x-request-id", b"req-1")],
        }
        await gated(scope, None, send)
    assert answers[0] == answers[1] == answers[2]
    assert edge.admission.refused == 3
    start, body = answers[0]
    assert start["status"] == 503
    names = [name for name, _ in start["headers"]]
    assert len(names) == len(set(names))  # no repeats
    assert b"x-content-type-options" in names and b"retry-after" in names
    decoded = msgspec.json.decode(body["body"], type=ErrorBody)
    assert decoded.status_code == 503 and "limit of 0" in decoded.detail
