"""Bad input is refused cheaply and clearly: oversized bodies before decoding (413), nesting
(400 naming the body), claims that are not UTF-8 (401, not a 500 on every request), and every
response carries the security headers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.auth.dev_tokens import mint_dev_token
from gateway.config import Settings
from tests.fixtures.gateway import JWT_SECRET, AppFactory, Caller

pytestmark = pytest.mark.parametrize("store_mode", ["memory"], indirect=True)

JSON = {"content-type": "application/json"}


async def test_a_body_over_the_limit_is_a_413_before_decoding(
    client_as: Callable[..., Caller],
) -> None:
    alice = client_as("alice")
    body = b'{"name":"' + b"a" * (2 * 1024 * 1024) + b'","transport":"stdio","command":"x"}'
    response = await alice.post("/v1/mcp-servers", content=body, headers=JSON)
    assert response.status_code == 413
    assert response.json()["status_code"] == 413
    assert (await alice.get("/v1/mcp-servers")).json()["items"] == []


async def test_the_body_limit_is_a_setting(
    gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    import msgspec

    client = await start_gateway(msgspec.structs.replace(gateway_settings, max_body_bytes=2048))
    alice = Caller(client, mint_dev_token(JWT_SECRET, sub="alice", email="a@example.com"))
    padded = {"name": "time", "transport": "stdio", "command": "uvx", "description": "d" * 1500}
    assert (await alice.post("/v1/mcp-servers", json=padded)).status_code == 201
    padded["description"] = "d" * 2500
    assert (await alice.post("/v1/mcp-servers", json=padded)).status_code == 413


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/v1/mcp-servers", "POST"),
        ("/v1/enterprises", "POST"),
    ],
)
@pytest.mark.parametrize("depth", [1_000, 100_000])
async def test_deeply_nested_json_is_a_400_naming_the_problem(
    client_as: Callable[..., Caller], path: str, method: str, depth: int
) -> None:
    """Strict decoding into the body's type stops at the first level the type does not allow;
    a RecursionError (the interpreter's limit) would be a 400 too, never a 500."""
    for body in (b"[" * depth + b"]" * depth, b'{"name":' + b'{"a":' * depth + b"1" + b"}" * depth):
        response = await client_as("alice").request(method, path, content=body, headers=JSON)
        assert response.status_code == 400, response.text
        assert response.json()["detail"].startswith("invalid ")


@pytest.mark.parametrize("claim", ["name", "email"])
async def test_a_lone_surrogate_in_a_claim_is_a_401_not_a_500(
    gateway: AsyncTestClient[Litestar], claim: str
) -> None:
    claims = {"email": "bob@example.com", "name": "Bob"}
    claims[claim] = "bob\ud800" + ("@example.com" if claim == "email" else "")
    token = mint_dev_token(JWT_SECRET, sub="bob", **claims)
    for _ in range(2):  # every request of that user, not only the first
        response = await gateway.get(
            "/v1/mcp-servers", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401, response.text
        assert response.json()["detail"] == "invalid claims: not valid UTF-8"
        assert "WWW-Authenticate" in response.headers


async def test_responses_carry_security_headers(
    client_as: Callable[..., Caller], anonymous: Caller
) -> None:
    for response in (
        await client_as("alice").get("/v1/mcp-servers"),
        await anonymous.get("/v1/mcp-servers"),  # a 401 too
        await anonymous.get("/healthz"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
    docs = await anonymous.get("/schema/swagger")
    assert "content-security-policy" not in docs.headers  # the docs page runs scripts
