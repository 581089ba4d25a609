"""Personal servers over HTTP, on the memory store and on Redis: each user sees and touches
only their own (another user's server is *not found*)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.fixtures.gateway import Caller

STDIO = {
    "name": "filesystem",
    "transport": "stdio",
    "command": "npx",
    "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
    "env": ["API_KEY"],
}
HTTP = {"name": "sentry", "transport": "streamable_http", "url": "https://mcp.sentry.dev/mcp"}


async def test_two_users_each_manage_only_their_own(client_as: Callable[..., Caller]) -> None:
    alice, bob = client_as("alice"), client_as("bob")

    created = await alice.post("/v1/mcp-servers", json=STDIO)
    assert created.status_code == 201, created.text
    server = created.json()
    assert server["id"].startswith("mcp_")
    assert server["user_id"] == "alice" and server["source"] == "personal"
    assert created.headers["location"] == f"/v1/mcp-servers/{server['id']}"
    bobs = (await bob.post("/v1/mcp-servers", json=HTTP)).json()

    alice_view = (await alice.get("/v1/mcp-servers")).json()
    assert [s["id"] for s in alice_view["items"]] == [server["id"]]
    assert [s["id"] for s in (await bob.get("/v1/mcp-servers")).json()["items"]] == [bobs["id"]]

    url = f"/v1/mcp-servers/{server['id']}"
    assert (await alice.get(url)).json()["name"] == "filesystem"
    for attempt in (bob.get(url), bob.patch(url, json={"name": "x"}), bob.delete(url)):
        response = await attempt
        assert response.status_code == 404, response.text
        assert "decision_id" not in response.json()  # a 404 says nothing about why

    updated = await alice.patch(url, json={"name": "fs", "enabled": False})
    assert updated.status_code == 200
    assert updated.json()["name"] == "fs" and updated.json()["enabled"] is False
    assert updated.json()["updated_at"] >= server["updated_at"]
    assert (await alice.get(url)).json()["name"] == "fs"

    assert (await alice.delete(url)).status_code == 204
    assert (await alice.get(url)).status_code == 404
    assert (await alice.get("/v1/mcp-servers")).json()["items"] == []
    # Bob's server survived Alice's delete.
    assert (await bob.get(f"/v1/mcp-servers/{bobs['id']}")).status_code == 200


async def test_decided_responses_carry_a_decision_id(client_as: Callable[..., Caller]) -> None:
    alice, bob = client_as("alice"), client_as("bob")
    created = await alice.post("/v1/mcp-servers", json=STDIO)
    assert created.headers.get("x-decision-id")
    url = f"/v1/mcp-servers/{created.json()['id']}"
    ids = {
        (await alice.get(url)).headers["x-decision-id"],
        (await bob.get(url)).headers["x-decision-id"],
        (await alice.get("/v1/mcp-servers")).headers["x-decision-id"],
    }
    assert len(ids) == 3  # one decision each


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**STDIO, "user_id": "bob"}, "user_id"),
        ({**STDIO, "source": "enterprise"}, "source"),
        ({**STDIO, "id": "mcp_1"}, "id"),
        ({**STDIO, "credentials_set": ["API_KEY"]}, "credentials_set"),
        ({**STDIO, "colour": "blue"}, "colour"),
        ({**STDIO, "transport": "carrier-pigeon"}, "transport"),
        # the transport rule and unique `env`: stated in the create's schema, so a 400
        ({"name": "x", "transport": "stdio"}, "command"),
        ({"name": "x", "transport": "sse"}, "url"),
        ({**STDIO, "url": "https://example.com"}, "url"),
        ({**HTTP, "command": "npx"}, "command"),
        ({**STDIO, "env": ["A", "A"]}, "env"),
        ({**HTTP, "url": "http://a\x00b/"}, "url"),  # no control characters in a URL
        ({**HTTP, "url": "https://x.example/ mcp"}, "url"),
        ({**STDIO, "env": ["lower_case"]}, "env[0]"),
        ({**STDIO, "name": "x" * 129}, "name"),
        ({**STDIO, "name": ""}, "name"),
        ({**STDIO, "args": ["a"] * 65}, "args"),
    ],
)
async def test_invalid_bodies_are_400_naming_the_field(
    client_as: Callable[..., Caller], body: dict[str, object], field: str
) -> None:
    alice = client_as("alice")
    response = await alice.post("/v1/mcp-servers", json=body)
    assert response.status_code == 400, response.text
    keys = [e.get("key") for e in response.json()["extra"]]
    assert field in keys, response.json()
    assert (await alice.get("/v1/mcp-servers")).json()["items"] == []  # nothing stored


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**HTTP, "url": "file:///etc/passwd"}, "url"),
        ({**HTTP, "url": "http://["}, "url"),  # urlsplit's ValueError: not a schema error
        ({**HTTP, "headers": {"HOST": "evil.example"}}, "headers"),  # the proxy's, any case
        ({**HTTP, "headers": {"X-A": "1", "x-a": "2"}}, "headers"),
        ({**HTTP, "headers": {"Authorization": "Bearer ${UNDECLARED}"}}, "headers"),
    ],
)
async def test_rules_the_document_cannot_state_are_422_naming_the_field(
    client_as: Callable[..., Caller], body: dict[str, object], field: str
) -> None:
    """The body matches the document; a rule no schema states refuses it: a 422
    (docs/api-contract.md), still naming the field and storing nothing."""
    alice = client_as("alice")
    response = await alice.post("/v1/mcp-servers", json=body)
    assert response.status_code == 422, response.text
    keys = [e.get("key") for e in response.json()["extra"]]
    assert field in keys, response.json()
    assert (await alice.get("/v1/mcp-servers")).json()["items"] == []  # nothing stored


async def test_patch_keeps_the_server_consistent(client_as: Callable[..., Caller]) -> None:
    alice = client_as("alice")
    url = f"/v1/mcp-servers/{(await alice.post('/v1/mcp-servers', json=STDIO)).json()['id']}"
    bad = await alice.patch(url, json={"transport": "sse"})  # right form, wrong with what is stored
    assert bad.status_code == 422 and [e["key"] for e in bad.json()["extra"]] == ["url"]
    assert (await alice.patch(url, json={"user_id": "bob"})).status_code == 400
    switched = await alice.patch(url, json={"transport": "sse", "url": "https://x.example/sse"})
    assert switched.status_code == 200, switched.text
    assert switched.json()["command"] is None and switched.json()["args"] == []
    assert (await alice.get(url)).json()["transport"] == "sse"


async def test_pagination_walks_the_whole_view(client_as: Callable[..., Caller]) -> None:
    alice = client_as("alice")
    made = [
        (await alice.post("/v1/mcp-servers", json={**HTTP, "name": f"s{i}"})).json()["id"]
        for i in range(5)
    ]
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await alice.get("/v1/mcp-servers", params=params)).json()
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(made)
    assert (await alice.get("/v1/mcp-servers", params={"limit": 501})).status_code == 400
    assert (await alice.get("/v1/mcp-servers", params={"cursor": "%%%"})).status_code == 400
    # base64url, so the document's pattern allows it; not one the gateway issued
    assert (await alice.get("/v1/mcp-servers", params={"cursor": "_w"})).status_code == 422  # 0xff
    for first_page in ("", "YQ=="):  # empty, and padded base64url: both taken
        listed = await alice.get("/v1/mcp-servers", params={"cursor": first_page})
        assert listed.status_code == 200, (first_page, listed.text)


async def test_bad_ids_are_400_and_unknown_ids_404(client_as: Callable[..., Caller]) -> None:
    alice = client_as("alice")
    assert (await alice.get("/v1/mcp-servers/mcp_..%2f..")).status_code in (400, 404)
    assert (await alice.get("/v1/mcp-servers/not-an-id")).status_code == 400
    assert (await alice.get("/v1/mcp-servers/mcp_0000000000000000")).status_code == 404
    assert (await alice.get("/v1/mcp-servers/emcp_0000000000000000")).status_code == 404
