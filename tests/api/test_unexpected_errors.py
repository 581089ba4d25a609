"""A bug is a logged 500 without internals, never a stack trace in the response."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.fixtures.gateway import Caller


@pytest.mark.parametrize("store_mode", ["memory"], indirect=True)
async def test_a_bug_is_a_logged_500(
    gateway: AsyncTestClient[Litestar],
    client_as: Callable[..., Caller],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def boom(*args: Any) -> None:
        raise RuntimeError("internal detail 0xdeadbeef")

    monkeypatch.setattr(gateway.app.state.runtime.services.servers, "view", boom)
    with caplog.at_level(logging.ERROR):
        response = await client_as("alice").get("/v1/mcp-servers")
    assert response.status_code == 500
    assert response.json() == {"status_code": 500, "detail": "internal server error"}
    assert "0xdeadbeef" not in response.text
    assert any("0xdeadbeef" in (r.exc_text or "") or r.exc_info for r in caplog.records)
