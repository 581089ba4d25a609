"""GATEWAY_AUTH_ENABLED=false: the ADR's unscoped local-dev mode (decided in Rego like the
rest): no token needed, every caller sees everything, and it says so loudly at startup."""

from __future__ import annotations

import logging

import pytest

from gateway.config import Settings
from tests.fixtures.gateway import AppFactory, Caller


async def test_local_dev_mode_is_unscoped_and_loud(
    start_gateway: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway"):
        app = await start_gateway(Settings(auth_enabled=False))
    assert any("AUTHENTICATION IS DISABLED" in r.getMessage() for r in caplog.records)
    anyone = Caller(app, None)
    created = await anyone.post(
        "/v1/mcp-servers", json={"name": "t", "transport": "stdio", "command": "uvx"}
    )
    assert created.status_code == 201 and created.json()["user_id"] == "local-dev"
    assert [s["id"] for s in (await anyone.get("/v1/mcp-servers")).json()["items"]] == [
        created.json()["id"]
    ]
    ent = await anyone.post("/v1/enterprises", json={"name": "Dev"})
    assert ent.status_code == 201
    got = await anyone.get(f"/v1/enterprises/{ent.json()['id']}")
    assert got.status_code == 200, got.text
    patched = await anyone.patch(f"/v1/enterprises/{ent.json()['id']}", json={"name": "Dev2"})
    assert patched.status_code == 200 and patched.json()["name"] == "Dev2"
