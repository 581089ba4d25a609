"""The authorization server the OAuth tests run against: a real Ory Hydra v2.3.0
(tests/fixtures/hydra.py). What is pinned here is what the gateway builds on: discovery,
dynamic registration of a public client, the code flow with PKCE for a named user, JWT access
tokens verifiable by JWKS with the user's claims, how an audience reaches `aud` (Hydra ignores
RFC 8707 `resource`), and the client-credentials grant."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest

from tests.fixtures.hydra import HydraServer, OAuthError, callback_params, pkce_pair

RESOURCE = "http://gateway.test/mcp"  # a gateway's canonical MCP resource URI


def claims_of(hydra: HydraServer, tokens: dict[str, Any], audience: str | None = RESOURCE) -> Any:
    """The access token's claims, checked as a resource server does: Hydra's JWKS (fetched by
    pyjwt from the `jwks_uri` of the discovery document), RS256, issuer, expiry, audience."""
    jwks = jwt.PyJWKClient(hydra.discovery()["jwks_uri"])
    token = tokens["access_token"]
    return jwt.decode(
        token,
        jwks.get_signing_key_from_jwt(token),
        algorithms=["RS256"],
        issuer=hydra.issuer,
        audience=audience,
        options={"verify_aud": audience is not None, "require": ["exp", "iat", "sub", "aud"]},
    )


def test_discovery_names_registration_jwks_and_s256(hydra: HydraServer) -> None:
    metadata = hydra.discovery()
    assert metadata["issuer"] == hydra.issuer
    assert metadata["registration_endpoint"] == f"{hydra.issuer}/oauth2/register"
    assert metadata["jwks_uri"] == hydra.jwks_url
    assert "S256" in metadata["code_challenge_methods_supported"]
    assert "none" in metadata["token_endpoint_auth_methods_supported"]
    # Only the OpenID Connect path: no RFC 8414 document, so clients must fall back to it.
    assert httpx.get(f"{hydra.issuer}/.well-known/oauth-authorization-server").status_code == 404


def test_a_public_client_registers_itself(hydra: HydraServer) -> None:
    client = hydra.register_client(redirect_uris=["http://localhost:33418/callback"])
    assert client["token_endpoint_auth_method"] == "none"
    assert not client.get("client_secret")
    assert client["redirect_uris"] == ["http://localhost:33418/callback"]
    assert client["audience"] == []  # none unless the client lists some itself


@pytest.mark.parametrize("via", ["resource", "audience"])
def test_code_flow_with_pkce_gives_alice_a_jwt_for_the_resource(
    hydra: HydraServer, via: str
) -> None:
    """`resource` (as MCP clients send it) reaches `aud` through the consent app; `audience`
    (Hydra's own parameter) only for a client that lists the audience as allowed."""
    if via == "resource":
        client = hydra.register_client()
        tokens = hydra.code_flow(client, user="alice", resource=RESOURCE)
    else:
        client = hydra.register_client(audience=[RESOURCE])
        tokens = hydra.code_flow(client, user="alice", audience=RESOURCE)
    assert tokens["token_type"].lower() == "bearer"
    header = jwt.get_unverified_header(tokens["access_token"])
    assert header["alg"] == "RS256" and header["kid"]
    claims = claims_of(hydra, tokens)
    assert claims["sub"] == "alice"
    assert claims["aud"] == [RESOURCE]
    assert claims["client_id"] == client["client_id"]
    assert claims["email"] == "alice@example.com"
    assert claims["groups"] == ["engineering"]
    assert claims["ext"]["email"] == "alice@example.com"  # Hydra's own place for them
    assert claims["scp"] == ["openid", "offline_access"]


def test_the_browser_names_the_user(hydra: HydraServer) -> None:
    client = hydra.register_client()
    assert claims_of(hydra, hydra.code_flow(client, user="bob", resource=RESOURCE))["sub"] == "bob"
    by_hint = hydra.code_flow(client, login_hint="carol", resource=RESOURCE)
    assert claims_of(hydra, by_hint)["roles"] == ["auditor"]
    with pytest.raises(OAuthError) as refused:
        hydra.code_flow(client, user="mallory", resource=RESOURCE)
    assert refused.value.error == "access_denied"


def test_an_authorization_url_built_elsewhere_is_followed_to_the_callback(
    hydra: HydraServer,
) -> None:
    """As an SDK's redirect handler uses it: the URL in, the callback with code and state out."""
    client = hydra.register_client()
    query = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": client["redirect_uris"][0],
        "scope": "openid",
        "state": "state-0001",  # Hydra wants 8 characters at least
        "code_challenge": pkce_pair()[1],
        "code_challenge_method": "S256",
    }
    url = f"{hydra.authorization_url}?{urlencode(query)}"
    callback = hydra.authorize(url, user="bob")
    assert callback.startswith(client["redirect_uris"][0] + "?")
    params = callback_params(callback)
    assert params["state"] == "state-0001", params
    assert params["code"], params


def test_hydra_itself_ignores_resource(hydra: HydraServer) -> None:
    """Without the consent app's mapping, RFC 8707 `resource` leaves `aud` empty, at the
    authorization and the token endpoint alike; an audience the client does not list is
    refused."""
    client = hydra.register_client()
    hydra.map_resource_to_audience = False
    try:
        tokens = hydra.code_flow(client, resource=RESOURCE)
    finally:
        hydra.map_resource_to_audience = True
    assert claims_of(hydra, tokens, audience=None)["aud"] == []
    with pytest.raises(OAuthError) as refused:
        hydra.code_flow(client, audience=RESOURCE)
    assert refused.value.error == "invalid_request"
    assert "has not been whitelisted" in refused.value.description


def test_a_refresh_keeps_the_audience_and_the_user(hydra: HydraServer) -> None:
    client = hydra.register_client()
    tokens = hydra.code_flow(client, user="alice", resource=RESOURCE)
    refreshed = hydra.refresh(client, tokens["refresh_token"])
    claims = claims_of(hydra, refreshed)
    assert (claims["sub"], claims["aud"], claims["email"]) == (
        "alice",
        [RESOURCE],
        "alice@example.com",
    )


def test_client_credentials_give_a_token_whose_subject_is_the_client(hydra: HydraServer) -> None:
    service = hydra.register_service_client(audience=[RESOURCE])
    assert service["client_secret"]
    claims = claims_of(hydra, hydra.client_credentials(service, audience=RESOURCE))
    assert claims["sub"] == claims["client_id"] == service["client_id"]
    assert claims["aud"] == [RESOURCE]
    assert "email" not in claims and claims["ext"] == {}
    # `resource` alone, as for the code flow, reaches no audience.
    assert claims_of(hydra, hydra.client_credentials(service, resource=RESOURCE), None)["aud"] == []
    with pytest.raises(OAuthError) as refused:
        hydra.client_credentials(service, audience="https://other-service.example/mcp")
    assert refused.value.error == "invalid_request"


def test_a_public_client_must_use_pkce(hydra: HydraServer) -> None:
    client = hydra.register_client()
    query = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": client["redirect_uris"][0],
        "scope": "openid",
        "state": "state-0002",
    }
    callback = hydra.authorize(f"{hydra.authorization_url}?{urlencode(query)}")
    assert callback_params(callback)["error"] == "invalid_request"
