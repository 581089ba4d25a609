"""Ids and names match the whole string: a trailing newline is not a second `bob`, and the
user ids that would escape their Vault namespace are refused before anything uses them."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
import pytest

from tests.fixtures.gateway import JWT_SECRET, Caller
from tests.fixtures.gateway import token_for as _token_for

SERVER = {"name": "s", "transport": "stdio", "command": "uvx"}


def _raw_token(sub: str) -> str:
    """A correctly signed token whose `sub` is whatever the test needs (the dev-token helper
    refuses bad ones, as it should)."""
    return jwt.encode(
        {"sub": sub, "email": "x@example.com", "exp": int(time.time()) + 600},
        JWT_SECRET,
        algorithm="HS256",
    )


@pytest.mark.parametrize("sub", ["bob\n", "bob\r\n", ".", "..", "enterprise", "a/b", ""])
async def test_a_bad_subject_is_a_401_naming_the_claim(anonymous: Caller, sub: str) -> None:
    response = await anonymous.get(
        "/v1/mcp-servers", headers={"Authorization": f"Bearer {_raw_token(sub)}"}
    )
    assert response.status_code == 401, response.text
    assert response.json()["detail"] == "invalid claims: sub"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_bob_with_a_newline_is_not_bob(client_as: Callable[..., Caller]) -> None:
    bob = client_as("bob")
    assert (await bob.post("/v1/mcp-servers", json=SERVER)).status_code == 201
    impostor = await bob.client.get(
        "/v1/mcp-servers", headers={"Authorization": f"Bearer {_raw_token('bob' + chr(10))}"}
    )
    assert impostor.status_code == 401
    assert _token_for("bob")  # the real bob still gets in (dev tokens are well-formed)


@pytest.mark.parametrize("env", ["X\n", "x", "1X", "X-Y", ""])
async def test_an_env_name_with_a_newline_is_a_400_naming_env(
    client_as: Callable[..., Caller], env: str
) -> None:
    response = await client_as("alice").post("/v1/mcp-servers", json={**SERVER, "env": [env]})
    assert response.status_code == 400, response.text
    assert [e["key"] for e in response.json()["extra"]] == ["env[0]"]


async def test_a_credential_name_with_a_newline_is_refused(
    client_as: Callable[..., Caller],
) -> None:
    alice = client_as("alice")
    created = await alice.post("/v1/mcp-servers", json={**SERVER, "env": ["X"]})
    url = f"/v1/mcp-servers/{created.json()['id']}"
    body = await alice.put(f"{url}/credentials", json={"values": {"X\n": "v"}})
    assert body.status_code == 400
    assert [e["key"] for e in body.json()["extra"]] == ["values"]
    path = await alice.delete(f"{url}/credentials/X%0A")
    assert path.status_code == 400
    assert [e["key"] for e in path.json()["extra"]] == ["env_var"]


@pytest.mark.parametrize("user", ["%2E", "%2E%2E", "enterprise", "bob%0A"])
async def test_a_reserved_or_newline_user_id_in_a_path_is_a_400(
    client_as: Callable[..., Caller], user: str
) -> None:
    alice = client_as("alice")
    ent = (await alice.post("/v1/enterprises", json={"name": "Acme"})).json()["id"]
    response = await alice.put(f"/v1/enterprises/{ent}/members/{user}", json={"role": "member"})
    assert response.status_code == 400, response.text
    assert [e["key"] for e in response.json()["extra"]] == ["user_id"]


@pytest.mark.parametrize(
    "url",
    [
        "/v1/mcp-servers/mcp_1%0A",
        "/v1/enterprises/ent_1%0A",
        "/v1/enterprise/mcp-servers/emcp_1%0A",
        "/v1/marketplace/servers/time%0A",
    ],
)
async def test_an_id_with_a_trailing_newline_is_a_400(
    client_as: Callable[..., Caller], url: str
) -> None:
    response = await client_as("alice").get(url)
    assert response.status_code == 400, response.text


async def test_a_name_with_a_trailing_newline_is_a_400(client_as: Callable[..., Caller]) -> None:
    response = await client_as("alice").post("/v1/enterprises", json={"name": "Acme\n"})
    assert response.status_code == 400
    assert [e["key"] for e in response.json()["extra"]] == ["name"]
