"""TokenVerifier with a shared secret: the HS256 rules, claim checks and configuration."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.api.errors import status_of
from gateway.auth import Claims, TokenVerifier, mint_dev_token
from gateway.config import ConfigError, Settings
from gateway.errors import Unauthenticated

SECRET = "unit-test-secret-" + "0123456789abcdef" * 4  # >= 64 bytes: no pyjwt warning
OTHER_SECRET = "another-secret-" + "fedcba9876543210" * 4


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "sub": "user-1",
        "email": "user1@example.com",
        "name": "User One",
        "roles": ["admin", "dev"],
        "exp": int(time.time()) + 600,
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


def _hs(payload: dict[str, Any], *, secret: str = SECRET, alg: str = "HS256") -> str:
    return jwt.encode(payload, secret, algorithm=alg)


def _verifier(**settings: Any) -> TokenVerifier:
    settings.setdefault("jwt_secret", SECRET)
    return TokenVerifier.from_settings(Settings(**settings))


async def _reason(
    verifier: TokenVerifier, token: str, audiences: frozenset[str] | None = None
) -> str:
    with pytest.raises(Unauthenticated) as info:
        await verifier.verify(token, audiences=audiences)
    assert status_of(info.value) == 401
    return info.value.detail


async def test_valid_hs256_token_returns_claims() -> None:
    claims = await _verifier().verify(_hs(_payload()))
    assert isinstance(claims, Claims)
    assert claims.sub == "user-1"
    assert claims.email == "user1@example.com"
    assert claims.name == "User One"
    assert claims.roles == ("admin", "dev")
    assert claims.exp > time.time()


async def test_optional_claims_default() -> None:
    claims = await _verifier().verify(_hs(_payload(name=None, roles=None)))
    assert claims.name is None
    assert claims.roles == ()


@pytest.mark.parametrize("token", ["", "   "])
async def test_missing_token_rejected(token: str) -> None:
    assert await _reason(_verifier(), token) == "missing token"


@pytest.mark.parametrize(
    "token", ["abc", "a.b", "a.b.c", "###.$$$.%%%", _b64({"alg": "HS256"}) + ".x.y", "x" * 20_000]
)
async def test_garbage_token_is_malformed(token: str) -> None:
    assert await _reason(_verifier(), token) == "malformed token"


async def test_bad_signature_rejected() -> None:
    assert await _reason(_verifier(), _hs(_payload(), secret=OTHER_SECRET)) == "invalid signature"


async def test_tampered_payload_rejected() -> None:
    header, _, signature = _hs(_payload()).split(".")
    forged = f"{header}.{_b64(_payload(sub='someone-else'))}.{signature}"
    assert await _reason(_verifier(), forged) == "invalid signature"


async def test_expired_token_rejected() -> None:
    token = _hs(_payload(exp=int(time.time()) - 120))
    assert await _reason(_verifier(), token) == "token expired"


async def test_leeway_accepts_just_expired_token() -> None:
    token = _hs(_payload(exp=int(time.time()) - 5))
    assert (await _verifier().verify(token)).sub == "user-1"
    strict = TokenVerifier(secret=SECRET, leeway_seconds=0)
    assert await _reason(strict, token) == "token expired"


async def test_not_yet_valid_token_rejected() -> None:
    token = _hs(_payload(nbf=int(time.time()) + 3600))
    assert await _reason(_verifier(), token) == "token not yet valid"


async def test_missing_exp_rejected() -> None:
    assert await _reason(_verifier(), _hs(_payload(exp=None))) == "missing claim: exp"


async def test_missing_sub_rejected() -> None:
    assert await _reason(_verifier(), _hs(_payload(sub=None))) == "missing claim: sub"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_alg_none_rejected_even_if_allowed(alg: str) -> None:
    verifier = _verifier(jwt_algorithms=("HS256", "none", alg))
    assert "none" not in {a.lower() for a in verifier.algorithms}
    for signature in ("", "c2ln"):
        token = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(_payload())}.{signature}"
        assert await _reason(verifier, token) == "algorithm not allowed"


async def test_header_without_alg_rejected() -> None:
    signed = _hs(_payload())
    token = f"{_b64({'typ': 'JWT'})}.{signed.split('.', 1)[1]}"
    assert await _reason(_verifier(), token) == "algorithm not allowed"


async def test_hs512_only_when_listed() -> None:
    token = _hs(_payload(), alg="HS512")
    assert await _reason(_verifier(), token) == "algorithm not allowed"
    listed = _verifier(jwt_algorithms=("HS256", "HS512"))
    assert (await listed.verify(token)).sub == "user-1"


async def test_asymmetric_alg_rejected_without_jwks() -> None:
    # Listing RS256 without a JWKS must not open any path for it.
    verifier = _verifier(jwt_algorithms=("HS256", "RS256"))
    assert verifier.algorithms == frozenset({"HS256"})
    token = f"{_b64({'alg': 'RS256', 'kid': 'k'})}.{_b64(_payload())}.c2ln"
    assert await _reason(verifier, token) == "algorithm not allowed"


async def test_issuer_checked_when_configured() -> None:
    verifier = _verifier(jwt_issuer="https://idp.example")
    ok = await verifier.verify(_hs(_payload(iss="https://idp.example")))
    assert ok.sub == "user-1"
    assert await _reason(verifier, _hs(_payload(iss="https://evil.example"))) == "invalid issuer"
    assert await _reason(verifier, _hs(_payload())) == "missing claim: iss"


async def test_issuer_ignored_when_not_configured() -> None:
    assert (await _verifier().verify(_hs(_payload(iss="anyone")))).sub == "user-1"


async def test_audience_checked_where_the_route_asks_for_one() -> None:
    """The route chooses (services/identity.Audiences): /mcp always asks for its resource."""
    verifier, wanted = _verifier(), frozenset({"gateway", "https://gw.example/mcp"})
    assert (await verifier.verify(_hs(_payload(aud="gateway")), audiences=wanted)).sub == "user-1"
    both = _hs(_payload(aud=["other", "https://gw.example/mcp"]))
    assert (await verifier.verify(both, audiences=wanted)).aud == (
        "other",
        "https://gw.example/mcp",
    )
    assert await _reason(verifier, _hs(_payload(aud="other-api")), wanted) == "invalid audience"
    assert await _reason(verifier, _hs(_payload()), wanted) == "invalid audience"


async def test_token_with_aud_accepted_where_no_audience_is_asked() -> None:
    assert (await _verifier().verify(_hs(_payload(aud="whatever")))).sub == "user-1"


async def test_a_user_token_needs_an_email_and_a_service_token_does_not() -> None:
    assert await _reason(_verifier(), _hs(_payload(email=None))) == "missing claim: email"
    service = _payload(sub="billing-app", client_id="billing-app")
    del service["email"]
    claims = await _verifier().verify(_hs(service))
    assert (claims.kind, claims.sub, claims.email) == ("service", "billing-app", None)
    # A user token carries its client's id too: a user, not a service.
    user = await _verifier().verify(_hs(_payload(client_id="desktop-client")))
    assert user.kind == "user"


async def test_roles_from_a_claim_path_and_chosen_claims_reach_the_subject() -> None:
    verifier = _verifier(jwt_roles_claim="realm_access.roles", jwt_claims=("groups", "dept"))
    payload = _payload(realm_access={"roles": ["auditor"]}, groups=["contractors"], dept="ops")
    claims = await verifier.verify(_hs({**payload, "roles": ["ignored"], "other": 1}))
    assert claims.roles == ("auditor",)
    assert claims.extra == {"groups": ["contractors"], "dept": "ops"}
    assert await _reason(verifier, _hs(_payload(groups={"a": 1}))) == "invalid claims: groups"
    bad_roles = _payload(realm_access={"roles": "auditor"})
    assert await _reason(verifier, _hs(bad_roles)) == "invalid claims: realm_access.roles"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sub": "../etc/passwd"}, "sub"),
        ({"sub": "a/b"}, "sub"),
        ({"sub": ""}, "sub"),
        ({"sub": "x" * 257}, "sub"),
        ({"sub": 42}, "sub"),
        ({"email": ""}, "email"),
        ({"email": 7}, "email"),
        ({"roles": "admin"}, "roles"),
        ({"roles": ["ok", 1]}, "roles"),
        ({"name": 3}, "name"),
    ],
)
async def test_bad_claims_rejected_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    assert await _reason(_verifier(), _hs(_payload(**overrides))) == f"invalid claims: {field}"


async def test_fractional_exp_accepted() -> None:
    claims = await _verifier().verify(_hs(_payload(exp=time.time() + 600.5)))
    assert isinstance(claims.exp, int)


async def test_messages_never_contain_token_or_secret() -> None:
    verifier = _verifier(jwt_issuer="iss")
    tokens = [
        _hs(_payload(), secret=OTHER_SECRET),
        _hs(_payload(iss="iss", aud="aud", exp=int(time.time()) - 100)),
        _hs(_payload(iss="bad", aud="aud")),
        _hs(_payload(iss="iss", aud="bad")),
        _hs(_payload(iss="iss", aud="aud", sub="a/b")),
        "not-a-token",
    ]
    for token in tokens:
        with pytest.raises(Unauthenticated) as info:
            await verifier.verify(token, audiences=frozenset({"aud"}))
        exc = info.value
        for text in (str(exc), exc.detail, repr(exc)):
            assert SECRET not in text
            assert token not in text
            assert token.split(".")[-1] not in text
        assert exc.__cause__ is None
        assert exc.__suppress_context__


def test_derived_algorithms() -> None:
    assert _verifier().algorithms == frozenset({"HS256"})


def test_config_errors() -> None:
    with pytest.raises(ConfigError):
        TokenVerifier.from_settings(Settings())
    with pytest.raises(ConfigError, match="unsupported"):
        _verifier(jwt_algorithms=("HS256", "XS999"))
    with pytest.raises(ConfigError, match="no algorithm"):
        _verifier(jwt_algorithms=("none",))
    with pytest.raises(ConfigError, match="no algorithm"):
        _verifier(jwt_algorithms=("RS256",))  # no JWKS configured
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(ConfigError, match="GATEWAY_JWT_SECRET") as info:
        _verifier(jwt_secret=pem)
    assert pem not in str(info.value)


async def test_dev_token_roundtrip() -> None:
    token = mint_dev_token(
        SECRET,
        sub="dev@example.com",
        email="dev@example.com",
        name="Dev",
        roles=["admin"],
        issuer="gateway-dev",
        audience="gateway",
    )
    verifier = _verifier(jwt_issuer="gateway-dev")
    claims = await verifier.verify(token, audiences=frozenset({"gateway"}))
    assert claims == Claims(
        sub="dev@example.com",
        email="dev@example.com",
        name="Dev",
        roles=("admin",),
        exp=claims.exp,
        aud=("gateway",),
    )
    assert 3500 < claims.exp - time.time() <= 3600
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


async def test_dev_token_expired_with_negative_ttl() -> None:
    token = mint_dev_token(SECRET, sub="u", email="u@example.com", ttl_seconds=-3600)
    assert await _reason(_verifier(), token) == "token expired"


def test_dev_token_refuses_bad_claims() -> None:
    with pytest.raises(ValueError, match="sub"):
        mint_dev_token(SECRET, sub="a/b", email="u@example.com")
    with pytest.raises(ValueError, match="email"):
        mint_dev_token(SECRET, sub="u", email="")
    with pytest.raises(ValueError, match="secret"):
        mint_dev_token("", sub="u", email="u@example.com")
