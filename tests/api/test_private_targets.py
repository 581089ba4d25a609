"""HTTP transports may not point the gateway at addresses that are not globally reachable
(SSRF: the MCP proxy connects to these URLs from inside the network) unless the deployment
names their range (GATEWAY_PRIVATE_UPSTREAM_CIDRS) or allows every address
(GATEWAY_ALLOW_PRIVATE_UPSTREAMS)."""

from __future__ import annotations

import logging
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
# Not globally reachable although `is_private` is False for each (issue 22: the rule asked
# `is_private`, and these were a 201), and the embedded-IPv4 forms of internal addresses.
NOT_GLOBAL = [
    "http://100.100.100.200/",  # a cloud metadata service (inside 100.64.0.0/10)
    "http://100.64.0.1/",  # shared address space (carrier-grade NAT)
    "http://192.0.0.192/",  # IETF protocol assignments (192.0.0.0/24)
    "http://[fec0::1]/",  # site-local (deprecated, still routed inside some networks)
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
    "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    "http://[64:ff9b:1::a00:1]/",  # the local-use NAT64 prefix
    "http://[2002:a9fe:a9fe::1]/",  # 6to4 of 169.254.169.254
    "http://[2002:a00:1::1]/",  # 6to4 of 10.0.0.1
    "http://[::127.0.0.1]/",  # IPv4-compatible (deprecated)
    "http://0.1.2.3/",  # "this network" (0.0.0.0/8)
    "http://0/",  # 0.0.0.0 as one number
    "http://224.0.0.1/",  # multicast
    "http://[ff0e::1]/",  # global-scope multicast (is_global says True)
    "http://255.255.255.255/",  # limited broadcast
    "http://192.88.99.1/",  # the deprecated 6to4 relay anycast
    "http://198.18.0.1/",  # benchmarking
    "http://[5f00::1]/",  # segment routing SIDs
    "http://[3fff::1]/",  # documentation (2024)
    "http://[100::1]/",  # discard-only
]
# Globally reachable, whatever form: still accepted.
GLOBAL = [
    "https://8.8.8.8/mcp",
    "https://[2606:4700:4700::1111]/mcp",
    "http://[::ffff:8.8.8.8]/",  # IPv4-mapped, of a global address
    "http://[64:ff9b::808:808]/",  # NAT64, of a global address
    "http://[2002:808:808::1]/",  # 6to4, of a global address
    "http://192.31.196.1/",  # AS112: in the registry, and global
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


@pytest.mark.parametrize("url", NOT_GLOBAL)
async def test_every_address_that_is_not_global_is_refused(
    client_as: Callable[..., Caller], url: str
) -> None:
    alice = client_as("alice")
    refused = await alice.post("/v1/mcp-servers", json=_server(url))
    assert refused.status_code == 422, refused.text
    assert refused.json()["extra"][0]["key"] == "url"
    assert (await alice.get("/v1/mcp-servers")).json()["items"] == []


async def test_global_addresses_are_accepted(client_as: Callable[..., Caller]) -> None:
    alice = client_as("alice")
    for number, url in enumerate(GLOBAL):
        created = await alice.post("/v1/mcp-servers", json={**_server(url), "name": f"g{number}"})
        assert created.status_code == 201, (url, created.text)


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
    gateway_settings: Settings, start_gateway: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The blunt instrument: every address, and a WARNING at startup saying so."""
    with caplog.at_level(logging.WARNING, logger="gateway"):
        client = await start_gateway(
            msgspec.structs.replace(gateway_settings, allow_private_upstreams=True)
        )
    created = await caller(client, "alice").post(
        "/v1/mcp-servers", json=_server("http://127.0.0.1:9000/mcp")
    )
    assert created.status_code == 201, created.text
    assert "GATEWAY_ALLOW_PRIVATE_UPSTREAMS=true" in caplog.text
    assert "GATEWAY_PRIVATE_UPSTREAM_CIDRS" in caplog.text


async def test_a_deployment_can_open_named_private_ranges(
    gateway_settings: Settings, start_gateway: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """GATEWAY_PRIVATE_UPSTREAM_CIDRS: inside a listed range is allowed, any other address
    that is not global still refused (cloud metadata, other private ranges, loopback)."""
    settings = msgspec.structs.replace(
        gateway_settings, private_upstream_cidrs=("10.20.0.0/16", "fd00:1::/64")
    )
    with caplog.at_level(logging.WARNING, logger="gateway"):
        alice = caller(await start_gateway(settings), "alice")
    assert "GATEWAY_ALLOW_PRIVATE_UPSTREAMS" not in caplog.text  # no warning for ranges
    for number, url in enumerate(["http://10.20.3.4:8080/mcp", "http://[fd00:1::5]/mcp"]):
        created = await alice.post("/v1/mcp-servers", json={**_server(url), "name": f"in{number}"})
        assert created.status_code == 201, (url, created.text)
    for url in [
        "http://10.21.0.1/mcp",
        "http://169.254.169.254/",
        "http://127.0.0.1:8200/",
        "http://[fd00:2::1]/",
    ]:
        refused = await alice.post("/v1/mcp-servers", json=_server(url))
        assert refused.status_code == 422, (url, refused.text)
        assert "GATEWAY_PRIVATE_UPSTREAM_CIDRS" in refused.json()["detail"]
