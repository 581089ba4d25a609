"""/mcp as an OAuth 2.1 protected resource (the MCP authorization spec; issue 22): a client
that knows only the URL finds the metadata from the 401; a token minted for another
resource is refused (RFC 8707); a foreign `Origin` is refused and an allowed one gets CORS;
scopes, identity attributes and service subjects reach the policy. Both engines."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import jwt
import msgspec
import pytest

from gateway.config import REPO_POLICY_DIR, Settings
from tests.fixtures.gateway import JWT_SECRET, AppFactory

pytestmark = pytest.mark.parametrize("store_mode", ["memory"], indirect=True)
PUBLIC = "https://gw.example"
RESOURCE = f"{PUBLIC}/mcp"
METADATA = f"{PUBLIC}/.well-known/oauth-protected-resource/mcp"
ISSUER = "https://idp.example"
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
MCP = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "contractors"


def _token(sub: str = "alice", **claims: Any) -> str:
    payload = {"sub": sub, "email": f"{sub}@example.com", "exp": int(time.time()) + 600}
    payload.update(claims)
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, JWT_SECRET, "HS256")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _settings(base: Settings, **extra: Any) -> Settings:
    return msgspec.structs.replace(
        base,
        public_url=PUBLIC,
        oauth_authorization_servers=(ISSUER,),
        allowed_origins=("https://inspector.example",),
        **extra,
    )


async def test_the_metadata_names_the_resource_and_its_authorization_server(
    gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    client = await start_gateway(_settings(gateway_settings, mcp_scopes=("mcp:tools",)))
    for path in (
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ):
        answer = await client.get(path)
        assert answer.status_code == 200
        assert answer.json() == {
            "resource": RESOURCE,
            "authorization_servers": [ISSUER],
            "bearer_methods_supported": ["header"],
            "scopes_supported": ["mcp:tools"],
            "resource_name": "MCP Policy Gateway",
        }
        assert answer.headers["access-control-allow-origin"] == "*"


async def test_a_401_points_at_the_metadata_and_says_invalid_token_for_a_bad_one(
    gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    client = await start_gateway(_settings(gateway_settings))
    bare = await client.post("/mcp", json=LIST, headers=MCP)
    expired = await client.post(
        "/mcp", json=LIST, headers={**MCP, **_bearer(_token(aud=RESOURCE, exp=1))}
    )
    assert bare.status_code == expired.status_code == 401
    challenge = bare.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and f'resource_metadata="{METADATA}"' in challenge
    assert "error=" not in challenge  # no token, no error (RFC 6750 §3.1)
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]
    assert f'resource_metadata="{METADATA}"' in expired.headers["www-authenticate"]


async def test_a_token_for_another_resource_is_refused_on_mcp(
    gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    """Was: a validly signed token with `aud: https://other-service.example/mcp` opened /mcp."""
    client = await start_gateway(_settings(gateway_settings))
    other = await client.post(
        "/mcp", json=LIST, headers={**MCP, **_bearer(_token(aud="https://other.example/mcp"))}
    )
    none = await client.post("/mcp", json=LIST, headers={**MCP, **_bearer(_token())})
    ours = await client.post(
        "/mcp", json=LIST, headers={**MCP, **_bearer(_token(aud=["x", RESOURCE]))}
    )
    assert other.status_code == none.status_code == 401
    assert 'error="invalid_token"' in other.headers["www-authenticate"]
    assert "invalid audience" in other.json()["detail"]
    assert ours.status_code == 200 and ours.json()["result"]["tools"] == []
    # /v1 takes the MCP resource's token too (the same user), and checks no audience unless
    # one is configured.
    assert (
        await client.get("/v1/mcp-servers", headers=_bearer(_token(aud=RESOURCE)))
    ).status_code == 200


async def test_a_foreign_origin_is_refused_and_an_allowed_one_gets_cors(
    gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    """Was: `Origin: http://evil.example` with a valid token was a 200, and OPTIONS a 401."""
    client = await start_gateway(_settings(gateway_settings))
    token = _bearer(_token(aud=RESOURCE))
    evil = await client.post(
        "/mcp", json=LIST, headers={**MCP, **token, "Origin": "http://evil.example"}
    )
    preflight = await client.options(
        "/mcp",
        headers={
            "Origin": "https://inspector.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version",
        },
    )
    allowed = await client.post(
        "/mcp", json=LIST, headers={**MCP, **token, "Origin": "https://inspector.example"}
    )
    anonymous = await client.post(
        "/mcp", json=LIST, headers={**MCP, "Origin": "https://inspector.example"}
    )
    assert evil.status_code == 403
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://inspector.example"
    assert "authorization" in preflight.headers["access-control-allow-headers"]
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://inspector.example"
    # A browser client can read where to log in from the 401.
    assert anonymous.status_code == 401
    assert "www-authenticate" in anonymous.headers["access-control-expose-headers"]


async def test_too_little_scope_is_a_403_naming_the_scope(
    gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    client = await start_gateway(_settings(gateway_settings, mcp_scopes=("mcp:tools",)))
    without = await client.post(
        "/mcp", json=LIST, headers={**MCP, **_bearer(_token(aud=RESOURCE, scope="openid"))}
    )
    with_it = await client.post(
        "/mcp",
        json=LIST,
        headers={**MCP, **_bearer(_token(aud=RESOURCE, scope="openid mcp:tools"))},
    )
    assert without.status_code == 403
    challenge = without.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="mcp:tools"' in challenge
    assert with_it.status_code == 200


def _contractors_policy(tmp_path: Path) -> Path:
    policies = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, policies, ignore=shutil.ignore_patterns("*_test.rego"))
    shutil.copytree(
        EXAMPLE / "gateway",
        policies / "gateway",
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("*_test.rego"),
    )
    return policies


async def test_a_groups_claim_decides_a_rule(
    tmp_path: Path, gateway_settings: Settings, start_gateway: AppFactory, opa_server: type
) -> None:
    """GATEWAY_JWT_CLAIMS=groups: the token's `groups` reaches `input.subject.claims`, and the
    contractors example refuses a stdio server to a contractor only (on OPA too)."""
    policies = _contractors_policy(tmp_path)
    engine = (
        {"opa_url": opa_server(policies).url}
        if gateway_settings.opa_url
        else {"policy_dir": str(policies)}
    )
    client = await start_gateway(_settings(gateway_settings, jwt_claims=("groups",), **engine))
    stdio = {"name": "local", "transport": "stdio", "command": "uvx", "args": ["x"]}
    carl = _bearer(_token("carl", groups=["contractors"]))
    dana = _bearer(_token("dana", groups=["staff"]))
    refused = await client.post("/v1/mcp-servers", json=stdio, headers=carl)
    created = await client.post("/v1/mcp-servers", json=stdio, headers=dana)
    assert refused.status_code == 403
    assert [r["code"] for r in refused.json()["reasons"]] == ["contractors_no_stdio"]
    assert created.status_code == 201


async def test_a_client_credentials_token_is_a_service_with_no_memberships(
    gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    """RFC 9068: `sub` is the client itself (`client_id`), no email: a service subject, which
    the shipped policy treats like a user with no memberships."""
    client = await start_gateway(_settings(gateway_settings))
    app = _bearer(_token("billing-app", email=None, client_id="billing-app"))
    created = await client.post(
        "/v1/mcp-servers",
        json={"name": "ledger", "transport": "streamable_http", "url": "https://mcp.example.com/m"},
        headers=app,
    )
    assert created.status_code == 201 and created.json()["user_id"] == "billing-app"
    assert (await client.get("/v1/enterprises", headers=app)).json()["items"] == []
    # A user's token without an email is refused (only a service has none).
    no_email = await client.get("/v1/mcp-servers", headers=_bearer(_token("eve", email=None)))
    assert no_email.status_code == 401 and "email" in no_email.json()["detail"]
