"""MCP clients log in to the gateway the standard way, from its URL alone (issue 22): the
official Python SDK's `OAuthClientProvider` and the official TypeScript SDK's `auth()` (v1
and v2), against a real authorization server, Ory Hydra v2.3.0 (tests/fixtures/hydra.py).

The gateway here is configured as an operator turning OAuth on would: served over real HTTP,
`GATEWAY_PUBLIC_URL` its real address, `GATEWAY_OAUTH_AUTHORIZATION_SERVERS` Hydra's issuer,
no JWT secret and no JWKS URL (Hydra's keys come from its metadata's `jwks_uri`). Each client
is given only `<gateway>/mcp`: it meets the 401, reads the RFC 9728 metadata it names, finds
Hydra and its metadata, registers itself (a public client), sends alice through Hydra's login
and consent with PKCE and RFC 8707 `resource`, exchanges the code, and then lists and calls
alice's tools. Hydra ignores `resource`; the fixture's consent app grants it as the audience
(docs/mcp-clients.md says what an operator's consent app must do).

And an app without a user: Hydra's client-credentials grant gives a token that works on /v1
(and /mcp) as a service subject."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import msgspec
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

from gateway.config import Settings, load_settings
from tests.fixtures.hydra import HydraServer, callback_params
from tests.mcp_proxy.client import mcp_client, ts_sdk_dir
from tests.mcp_proxy.peers import ServedGateway, Upstream, served_gateway, upstreams

# The OAuth login and the audience check, not a policy decision: the OPA pass skips it
# (tests/conftest.py).
pytestmark = pytest.mark.engine_independent

TS_DRIVER = Path(__file__).with_name("ts_oauth_client.mjs")
SECRET = "files-upstream-secret-of-alice"  # what alice's upstream wants; never the user's token
TOOLS = ("big_answer", "delete_file", "echo_headers", "read_file")  # upstream_server.py's
REDIRECT_URI = "http://127.0.0.1:9/callback"  # the client's callback: the browser stops there
READ: dict[str, Any] = {"name": "files__read_file", "arguments": {"path": "/tmp/x"}}
# Hydra v2.3.0 answers a registration with `"client_uri": ""` and `"contacts": null` for what
# the client did not send, which the TypeScript SDK's schema refuses (ory/hydra#4116,
# modelcontextprotocol/typescript-sdk#543): our TypeScript client sends both, so Hydra echoes
# real values (test_hydras_registration_answer_breaks_the_typescript_sdk pins why).
TS_CLIENT_METADATA = {
    "client_uri": "https://example.com/gateway-tests",
    "contacts": ["t@example.com"],
}


@dataclass
class World:
    """A gateway that trusts Hydra, and alice's personal server `files` on it (an upstream that
    wants `SECRET`, created through /v1 with a Hydra token of alice's)."""

    gateway: ServedGateway
    hydra: HydraServer
    files: Upstream
    server_id: str

    def where(self, method: str, url: str, status: int | None) -> str:
        """'POST gateway/mcp 401': an exchange, with the two origins named."""
        named = url.replace(self.gateway.base_url, "gateway").replace(self.hydra.issuer, "hydra")
        return f"{method} {named.split('?')[0]} {status}"


def _settings(base: Settings, hydra: HydraServer) -> Settings:
    return msgspec.structs.replace(
        base,
        jwt_secret=None,  # no dev tokens: Hydra's only
        jwt_jwks_url=None,  # keys from Hydra's metadata
        oauth_authorization_servers=(hydra.issuer,),
        allow_private_upstreams=True,  # the upstream listens on 127.0.0.1
        mcp_upstream_timeout_seconds=10.0,
    )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(tmp_path: Path, gateway_settings: Settings, hydra: HydraServer) -> Iterator[World]:
    with (
        upstreams(tmp_path, ("files", "streamable_http")) as (files,),
        served_gateway(_settings(gateway_settings, hydra), public_url=True) as gateway,
    ):
        # alice sets her server up through /v1 with a token from Hydra (any client of hers).
        token = hydra.code_flow(hydra.register_client(), user="alice", resource=gateway.mcp_url)
        with httpx.Client(
            base_url=gateway.base_url, headers=_bearer(token["access_token"]), timeout=20
        ) as alice:
            created = alice.post(
                "/v1/mcp-servers",
                json={
                    "name": "files",
                    "transport": "streamable_http",
                    "url": files.url,
                    "headers": {"Authorization": "Bearer ${FILES_TOKEN}"},
                    "env": ["FILES_TOKEN"],
                },
            )
            assert created.status_code == 201, created.text
            assert created.json()["user_id"] == "alice"
            put = alice.put(
                f"/v1/mcp-servers/{created.json()['id']}/credentials",
                json={"values": {"FILES_TOKEN": SECRET}},
            )
            assert put.status_code == 200, put.text
        yield World(gateway, hydra, files, created.json()["id"])


def _check_login(world: World, seen: list[str]) -> None:
    """The client's requests, in order: the MCP request meets a 401; the client reads the
    metadata the gateway names before it ever asks Hydra anything (it knew only the URL);
    it registers once and gets a token once; after that, only the gateway, never a 401."""
    assert seen[0].startswith("POST gateway/mcp ") and seen[0].endswith(" 401"), seen
    first_hydra = next(i for i, s in enumerate(seen) if " hydra/" in s)
    assert "GET gateway/.well-known/oauth-protected-resource/mcp 200" in seen[:first_hydra], seen
    # Hydra serves no RFC 8414 document: the SDKs fall back to OpenID Connect discovery.
    assert seen[first_hydra : first_hydra + 3] == [
        "GET hydra/.well-known/oauth-authorization-server 404",
        "GET hydra/.well-known/openid-configuration 200",
        "POST hydra/oauth2/register 201",
    ], seen
    assert seen.count("POST hydra/oauth2/register 201") == 1, seen
    assert seen.count("POST hydra/oauth2/token 200") == 1, seen
    after = seen[seen.index("POST hydra/oauth2/token 200") + 1 :]
    assert after and all(" gateway/mcp " in s and not s.endswith(" 401") for s in after), seen


def _check_authorization_url(world: World, url: str, client_id: str) -> None:
    """The code flow the SDK started: Hydra's endpoint, the client it registered, PKCE S256,
    and the gateway's canonical MCP resource (RFC 8707), taken from the metadata."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == world.hydra.authorization_url
    assert query["client_id"] == client_id
    assert query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["resource"] == world.gateway.mcp_url
    assert query["redirect_uri"] == REDIRECT_URI


def _check_token_and_upstream(world: World, access_token: str, client_id: str) -> None:
    """The token Hydra gave the SDK is alice's, for this gateway's MCP resource only; the
    upstream got its own secret on every request and never that token; and the same token
    opens /v1 as alice."""
    claims = world.hydra.verify(access_token, audience=world.gateway.mcp_url)
    assert (claims["sub"], claims["aud"], claims["client_id"]) == (
        "alice",
        [world.gateway.mcp_url],
        client_id,
    )
    received = world.files.requests()
    assert received and {r["authorization"] for r in received} == {f"Bearer {SECRET}"}
    assert access_token not in json.dumps(received)
    mine = httpx.get(
        f"{world.gateway.base_url}/v1/mcp-servers", headers=_bearer(access_token), timeout=20
    )
    assert mine.status_code == 200, mine.text
    assert [(s["id"], s["user_id"]) for s in mine.json()["items"]] == [(world.server_id, "alice")]


# --- the Python SDK ------------------------------------------------------------------------


@dataclass
class MemoryStorage:
    """`TokenStorage`: the registration and the tokens, for this one session."""

    tokens: OAuthToken | None = None
    client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


@dataclass
class Browser:
    """The SDK's `redirect_handler` and `callback_handler`: the user's browser follows the
    authorization URL through Hydra's login (as `user`) and consent to the callback."""

    hydra: HydraServer
    user: str
    authorization_urls: list[str] = field(default_factory=list)
    callback: str = ""

    async def redirect(self, url: str) -> None:
        self.authorization_urls.append(url)
        self.callback = await self.hydra.authorize_async(url, user=self.user)

    async def returned(self) -> AuthorizationCodeResult:
        params = callback_params(self.callback)
        assert "code" in params, f"the authorization server refused: {params}"
        return AuthorizationCodeResult(
            code=params["code"], state=params.get("state"), iss=params.get("iss")
        )


@dataclass
class Exchanges:
    """An httpx2 response hook: every request the SDK made (the OAuth ones too), in order."""

    world: World
    seen: list[str] = field(default_factory=list)

    async def __call__(self, response: httpx2.Response) -> None:
        request = response.request
        self.seen.append(self.world.where(request.method, str(request.url), response.status_code))


@pytest.mark.parametrize("store_mode", ["memory"], indirect=True)
async def test_the_python_sdk_client_logs_in_from_the_url_alone(world: World) -> None:
    browser = Browser(world.hydra, "alice")
    storage = MemoryStorage()
    exchanges = Exchanges(world)
    provider = OAuthClientProvider(
        world.gateway.mcp_url,  # all it is told
        OAuthClientMetadata(
            client_name="gateway-test-py",
            redirect_uris=[REDIRECT_URI],  # type: ignore[list-item]
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage,
        redirect_handler=browser.redirect,
        callback_handler=browser.returned,
    )
    async with (
        httpx2.AsyncClient(
            auth=provider, event_hooks={"response": [exchanges]}, timeout=httpx2.Timeout(30)
        ) as http,
        Client(
            streamable_http_client(world.gateway.mcp_url, http_client=http),
            mode="auto",
            cache=None,
            read_timeout_seconds=60,
        ) as client,
    ):
        version = client.protocol_version
        listed = await client.list_tools()
        called = await client.call_tool(READ["name"], READ["arguments"])

    assert version == "2026-07-28"  # mode="auto" against a gateway that speaks it
    assert sorted(t.name for t in listed.tools) == [f"files__{tool}" for tool in TOOLS]
    assert called.is_error is False
    assert called.content[0].text == "files read /tmp/x"  # type: ignore[union-attr]
    _check_login(world, exchanges.seen)
    registered = storage.client
    assert registered is not None and storage.tokens is not None
    assert registered.token_endpoint_auth_method == "none" and not registered.client_secret
    assert len(browser.authorization_urls) == 1  # one login, for the whole session
    _check_authorization_url(world, browser.authorization_urls[0], registered.client_id)
    _check_token_and_upstream(world, storage.tokens.access_token, registered.client_id)


# --- the TypeScript SDK --------------------------------------------------------------------


@pytest.fixture(scope="session")
def ts_sdk() -> str:
    found = ts_sdk_dir()
    if found is None:
        pytest.skip("no Node.js here for the TypeScript MCP client")
    return found


async def _run_ts_oauth(sdk_dir: str, url: str, plan: dict[str, Any]) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        "node", str(TS_DRIVER), url, json.dumps({"redirectUrl": REDIRECT_URI, **plan}),
        env={**os.environ, "MCP_SDK_DIR": sdk_dir},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()
    seen: dict[str, Any] = json.loads(out)
    return seen


def _steps(world: World, seen: dict[str, Any]) -> list[str]:
    return [world.where(e["httpMethod"], e["url"], e["status"]) for e in seen["exchanges"]]


@pytest.mark.parametrize(
    ("sdk", "negotiation", "version"),
    [("v1", None, "2025-11-25"), ("v2", "auto", "2026-07-28")],
)
@pytest.mark.parametrize("store_mode", ["memory"], indirect=True)
async def test_the_typescript_sdk_client_logs_in_from_the_url_alone(
    world: World, ts_sdk: str, sdk: str, negotiation: str | None, version: str
) -> None:
    seen = await _run_ts_oauth(
        ts_sdk,
        world.gateway.mcp_url,
        {
            "sdk": sdk,
            "negotiation": negotiation,
            "user": "alice",
            "clientMetadata": TS_CLIENT_METADATA,
            "calls": [READ],
        },
    )

    assert "error" not in seen, seen["error"]
    assert seen["protocolVersion"] == version
    assert sorted(seen["tools"]) == [f"files__{tool}" for tool in TOOLS]
    [read] = seen["calls"]
    assert read["result"]["content"] == [{"type": "text", "text": "files read /tmp/x"}]
    _check_login(world, _steps(world, seen))
    registered = seen["client"]
    assert registered["token_endpoint_auth_method"] == "none"
    assert not registered.get("client_secret")
    assert seen["callback"]["state"]  # the driver checked it is the one it sent
    _check_authorization_url(world, seen["authorizationUrl"], registered["client_id"])
    _check_token_and_upstream(world, seen["tokens"]["access_token"], registered["client_id"])


@pytest.mark.parametrize("store_mode", ["memory"], indirect=True)
async def test_hydras_registration_answer_breaks_the_typescript_sdk(
    world: World, ts_sdk: str
) -> None:
    """Why the TypeScript client above registers with `client_uri` and `contacts`: without
    them Hydra v2.3.0 answers `"client_uri": ""` and `"contacts": null`, and the SDK (both
    lines) refuses that answer, so the flow stops after a successful registration. Clients
    built on the TypeScript SDK that send neither fail against Hydra this way (ory/hydra#4116).
    When this test fails, Hydra or the SDK has changed: drop TS_CLIENT_METADATA and update
    docs/mcp-clients.md."""
    seen = await _run_ts_oauth(
        ts_sdk, world.gateway.mcp_url, {"sdk": "v2", "negotiation": "auto", "user": "alice"}
    )

    steps = _steps(world, seen)
    assert steps[-1] == "POST hydra/oauth2/register 201", steps
    assert seen["error"]["name"] == "ZodError"
    assert '"client_uri"' in seen["error"]["message"]
    assert '"contacts"' in seen["error"]["message"]


@pytest.mark.parametrize("store_mode", ["memory"], indirect=True)
async def test_a_token_hydra_issued_for_another_resource_is_refused_on_mcp(world: World) -> None:
    hydra = world.hydra
    other = hydra.code_flow(
        hydra.register_client(), user="alice", resource="http://other-service.example/mcp"
    )["access_token"]
    assert hydra.verify(other)["aud"] == ["http://other-service.example/mcp"]  # validly signed

    async with httpx.AsyncClient(timeout=20) as http:
        refused = await http.post(
            world.gateway.mcp_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={
                **_bearer(other),
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2025-11-25",
            },
        )

    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert 'error="invalid_token"' in challenge
    metadata = f"{world.gateway.base_url}/.well-known/oauth-protected-resource/mcp"
    assert f'resource_metadata="{metadata}"' in challenge
    assert world.files.requests() == []


# --- an app without a user -----------------------------------------------------------------


@pytest.mark.parametrize("store_mode", ["memory"], indirect=True)
async def test_a_client_credentials_app_is_a_service_subject(world: World) -> None:
    """Hydra's client-credentials grant, with the gateway's resource as `audience` (Hydra
    ignores `resource`; the client must list the audience): `sub` is the client id, no email.
    On /v1 it is a service: it creates a server of its own and belongs to no enterprise, and
    the decision log says `subject.kind: service`. Its token opens /mcp too."""
    hydra = world.hydra
    app = hydra.register_service_client(audience=[world.gateway.mcp_url])
    token = hydra.client_credentials(app, audience=world.gateway.mcp_url)["access_token"]
    app_id = app["client_id"]

    async with httpx.AsyncClient(
        base_url=world.gateway.base_url, headers=_bearer(token), timeout=20
    ) as api:
        created = await api.post(
            "/v1/mcp-servers",
            json={"name": "ledger", "transport": "streamable_http", "url": world.files.url},
        )
        enterprises = await api.get("/v1/enterprises")
        servers = await api.get("/v1/mcp-servers")
    async with mcp_client(world.gateway.mcp_url, token, "auto") as client:
        tools = await client.list_tools()
    records = await world.gateway.decision_records()

    assert created.status_code == 201, created.text
    assert created.json()["user_id"] == app_id
    assert enterprises.status_code == 200 and enterprises.json()["items"] == []
    assert [s["name"] for s in servers.json()["items"]] == ["ledger"]  # not alice's
    assert sorted(t.name for t in tools.tools) == [f"ledger__{tool}" for tool in TOOLS]
    theirs = [r for r in records if r.subject_id == app_id]
    create = next(r for r in theirs if r.action == "mcp_server.create")
    assert create.allowed is True
    assert create.input["subject"]["kind"] == "service"
    assert create.input["subject"]["id"] == app_id
    assert create.input["subject"].get("email") is None
    assert {r.input["subject"]["kind"] for r in theirs} == {"service"}


def test_an_authorization_server_alone_is_a_key_source() -> None:
    """Was: GATEWAY_OAUTH_AUTHORIZATION_SERVERS without GATEWAY_JWT_SECRET or
    GATEWAY_JWT_JWKS_URL was a startup error ("neither … is set"), although the verifier takes
    the keys from the server's metadata: an OAuth-only gateway could not start."""
    settings = load_settings({"GATEWAY_OAUTH_AUTHORIZATION_SERVERS": "https://idp.example"})
    assert settings.oauth_authorization_servers == ("https://idp.example",)
    assert settings.jwt_secret is None and settings.jwt_jwks_url is None
