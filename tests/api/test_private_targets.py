"""HTTP transports may not point the gateway at internal addresses (SSRF: the MCP proxy
connects to these URLs from inside the network) unless GATEWAY_ALLOW_PRIVATE_UPSTREAMS."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest

from gateway.config import Settings
from tests.fixtures.gateway import AppFactory, Caller, caller

pytestmark = pytest.mark.parametrize("store_mode", ["memory"], indirect=True)

INTERNAL = [
    "http://127.0.0.1:9000/mcp",
    "http://localhost:3000/mcp",
    "http://169.254.169.254/latest/meta-data",
    "http://10.0.0.7/mcp",
    "http://[::1]:8080/mcp",
    "http://[::ffff:192.168.0.1]/mcp",
    "http://2130706433/mcp",  # 127.0.0.1 as one number
    "http://0.0.0.0:80/",
]


def _server(url: str) -> dict[str, object]:
    return {"name": "remote", "transport": "streamable_http", "url": url}


@pytest.mark.parametrize("url", INTERNAL)
async def test_a_personal_server_may_not_target_an_internal_address(
    client_as: Callable[..., Caller], url: str
) -> None:
    alice = client_as("alice")
    refused = await alice.post("/v1/mcp-servers", json=_server(url))
    assert refused.status_code == 422, refused.text  # a well-formed URL, refused by rule
    assert refused.json()["extra"][0]["key"] == "url"
    assert "GATEWAY_ALLOW_PRIVATE_UPSTREAMS" in refused.json()["detail"]
    assert (await alice.get("/v1/mcp-servers")).json()["items"] == []


async def test_an_update_may_not_move_a_server_inside(client_as: Callable[..., Caller]) -> None:
    alice = client_as("alice")
    created = await alice.post("/v1/mcp-servers", json=_server("https://mcp.example.com/mcp"))
    assert created.status_code == 201, created.text
    url = f"/v1/mcp-servers/{created.json()['id']}"
    refused = await alice.patch(url, json={"url": "http://169.254.169.254/"})
    assert refused.status_code == 422
    assert (await alice.get(url)).json()["url"] == "https://mcp.example.com/mcp"


async def test_an_enterprise_server_may_not_target_an_internal_address(
    client_as: Callable[..., Caller],
) -> None:
    owner = client_as("olivia")
    ent = (await owner.post("/v1/enterprises", json={"name": "Acme"})).json()["id"]
    refused = await owner.post(
        f"/v1/enterprise/mcp-servers?enterprise_id={ent}", json=_server("http://10.1.2.3/mcp")
    )
    assert refused.status_code == 422, refused.text  # a well-formed URL, refused by rule
    assert refused.json()["extra"][0]["key"] == "url"


async def test_a_deployment_can_allow_internal_targets(
    gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    client = await start_gateway(
        msgspec.structs.replace(gateway_settings, allow_private_upstreams=True)
    )
    created = await caller(client, "alice").post(
        "/v1/mcp-servers", json=_server("http://127.0.0.1:9000/mcp")
    )
    assert created.status_code == 201, created.text
