"""A failing backend is named in 503 bodies and in the unauthenticated /readyz, never by its
address: "redis", "vault", "policy engine" — the host and port stay in the log."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from gateway.config import Settings
from tests.fixtures.gateway import JWT_SECRET, AppFactory, caller
from tests.fixtures.openbao import run_openbao
from tests.reliability.conftest import DoomedRedis

SERVER = {
    "name": "time",
    "transport": "stdio",
    "command": "uvx",
    "args": ["mcp-server-time"],
    "env": ["TZ"],
}
# What a connection error tells about where the backend lives: an address, a port, an errno.
ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+|localhost|:\d{2,5}\b|Errno|Error \d+|connecting")


def _no_address(texts: list[str], port: int) -> None:
    for text in texts:
        assert str(port) not in text, text
        assert not ADDRESS.search(text), text


def _readiness_texts(body: dict[str, object]) -> list[str]:
    """What /readyz says about failures: each check, and the decision log's last error."""
    checks = body["checks"]
    assert isinstance(checks, dict)
    return [*map(str, checks.values()), str(body["decision_log"])]


@pytest.mark.redis
async def test_redis_down_is_named_not_located(
    doomed_redis: type[DoomedRedis], start_gateway: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    redis = doomed_redis()
    app = await start_gateway(Settings(jwt_secret=JWT_SECRET, redis_url=redis.url))
    alice = caller(app, "alice")
    assert (await alice.post("/v1/mcp-servers", json=SERVER)).status_code == 201
    redis.kill()
    with caplog.at_level(logging.WARNING):
        listed = await alice.get("/v1/mcp-servers")
        created = await alice.post("/v1/mcp-servers", json=SERVER)
        ready = await app.get("/readyz")
    for refused in (listed, created):
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["detail"].startswith("redis unavailable"), refused.text
        _no_address([refused.json()["detail"]], redis.port)
    assert ready.status_code == 503, ready.text
    assert ready.json()["checks"]["stores"].startswith("unavailable: redis"), ready.text
    _no_address(_readiness_texts(ready.json()), redis.port)
    # The operator still learns where: the log keeps the details.
    assert str(redis.port) in caplog.text


@pytest.mark.vault
async def test_vault_down_is_named_not_located(
    tmp_path: Path, redis_url: str, start_gateway: AppFactory
) -> None:
    with run_openbao(tmp_path) as vault:
        port = int(vault.addr.rsplit(":", 1)[1])
        app = await start_gateway(
            Settings(
                jwt_secret=JWT_SECRET,
                redis_url=redis_url,
                vault_addr=vault.addr,
                vault_token=vault.token,
            )
        )
        alice = caller(app, "alice")
        server = (await alice.post("/v1/mcp-servers", json=SERVER)).json()
    # The dev server is gone now.
    refused = await alice.put(
        f"/v1/mcp-servers/{server['id']}/credentials", json={"values": {"TZ": "UTC"}}
    )
    assert refused.status_code == 503, refused.text
    assert refused.json()["detail"].startswith("vault unavailable"), refused.text
    _no_address([refused.json()["detail"]], port)
    ready = await app.get("/readyz")
    assert ready.json()["checks"]["secrets"].startswith("unavailable: vault"), ready.text
    _no_address(_readiness_texts(ready.json()), port)
