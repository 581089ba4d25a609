"""Issue 23: stdio servers of the caller's view run on the gateway, each in a bubblewrap
sandbox of its own, and are proxied through /mcp like HTTP servers: listed and called under
the policy, their credentials from Vault in their process only."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.mcp_proxy.client import api, mcp_session
from tests.mcp_proxy.peers import ServedGateway
from tests.mcp_proxy.stdio_hosting import (
    hosting_gateway,
    sandboxes_possible,
    stdlib_server,
    workspace_root,
)

pytestmark = pytest.mark.skipif(not sandboxes_possible(), reason="needs root and bubblewrap")
SECRET = "s3cr3t-vault-value-7f2c"


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with workspace_root() as found:
        yield found


@pytest.fixture(scope="module")
def gateway(request: pytest.FixtureRequest, root: str) -> Iterator[ServedGateway]:
    with hosting_gateway(request, root) as served:
        yield served


async def _install(gateway: ServedGateway, user: str, body: dict[str, object]) -> str:
    async with api(gateway.base_url, user) as client:
        created = await client.post("/v1/mcp-servers", json=body)
        assert created.status_code == 201, created.text
        return str(created.json()["id"])


async def _set_secret(gateway: ServedGateway, user: str, server_id: str, value: str) -> None:
    async with api(gateway.base_url, user) as client:
        put = await client.put(
            f"/v1/mcp-servers/{server_id}/credentials", json={"values": {"SECRET_TOKEN": value}}
        )
        assert put.status_code in (200, 204), put.text


async def test_an_inline_stdlib_server_is_listed_and_called_with_its_vault_secret(
    gateway: ServedGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server_id = await _install(gateway, "alice", stdlib_server(env=["SECRET_TOKEN"]))
    await _set_secret(gateway, "alice", server_id, SECRET)
    for mode in ("auto", "legacy"):
        async with mcp_session(gateway.mcp_url, "alice", mode) as client:
            listed = await client.list_tools()
            names = {t.name for t in listed.tools}
            assert {"stdlib__echo", "stdlib__env", "stdlib__run"} <= names, listed
            echoed = await client.call_tool("stdlib__echo", {"text": "hello"})
            assert echoed.content[0].text == "hello"  # type: ignore[union-attr]
            env = await client.call_tool("stdlib__env", {"name": "SECRET_TOKEN"})
            assert env.content[0].text == SECRET  # type: ignore[union-attr]
    # The server printed its secret on stderr: the log has the line, not the value.
    assert "stdlib server up; token=***" in caplog.text
    assert SECRET not in caplog.text
