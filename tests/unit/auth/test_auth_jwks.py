"""JWKS verification against a real local HTTP server: RS/ES tokens, key rotation, the refetch
rate limit, fetch failures, and HS/RS confusion."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from gateway.auth import JWKSCache, TokenVerifier
from gateway.config import Settings
from gateway.errors import Unauthenticated

SECRET = "jwks-test-secret-" + "0123456789abcdef" * 4
CACHE_SECONDS = 300.0
MIN_REFETCH_SECONDS = 30.0


class JWKSServer:
    """Serves whatever JWKS the test sets, counting GETs; can be switched to fail."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.status = 200
        self.raw_body: bytes | None = None
        self.fetches = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.fetches += 1
                    status, body = server.status, server.raw_body
                    if body is None:
                        body = json.dumps({"keys": server.keys}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"

    def serve(self, *keys: Any) -> None:
        with self._lock:
            self.keys = list(keys)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Signer:
    """A private key plus its public JWK (kid, use=sig, optional alg)."""

    def __init__(self, kid: str, private_key: Any, *, alg: str | None = None) -> None:
        self.kid = kid
        self.private_key = private_key
        public = private_key.public_key()
        algorithm = RSAAlgorithm if isinstance(public, rsa.RSAPublicKey) else ECAlgorithm
        self.jwk: dict[str, Any] = {**algorithm.to_jwk(public, as_dict=True), "kid": kid}
        self.jwk["use"] = "sig"
        if alg is not None:
            self.jwk["alg"] = alg
        self.public_pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, payload: dict[str, Any], alg: str, *, kid: str | None = None) -> str:
        return jwt.encode(
            payload, self.private_key, algorithm=alg, headers={"kid": kid or self.kid}
        )


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def rsa_keys() -> list[rsa.RSAPrivateKey]:
    return [_rsa() for _ in range(3)]


@pytest.fixture(scope="module")
def rsa1(rsa_keys: list[rsa.RSAPrivateKey]) -> Signer:
    return Signer("rsa-1", rsa_keys[0], alg="RS256")


@pytest.fixture(scope="module")
def rsa2(rsa_keys: list[rsa.RSAPrivateKey]) -> Signer:
    return Signer("rsa-2", rsa_keys[1], alg="RS256")


@pytest.fixture(scope="module")
def rsa3(rsa_keys: list[rsa.RSAPrivateKey]) -> Signer:
    return Signer("rsa-3", rsa_keys[2], alg="RS256")


@pytest.fixture(scope="module")
def ec256() -> Signer:
    return Signer("ec-256", ec.generate_private_key(ec.SECP256R1()), alg="ES256")


@pytest.fixture(scope="module")
def ec384() -> Signer:
    return Signer("ec-384", ec.generate_private_key(ec.SECP384R1()))


@pytest.fixture
def server() -> Iterator[JWKSServer]:
    srv = JWKSServer()
    # A short poll interval keeps shutdown() (and so each test's teardown) fast.
    thread = threading.Thread(target=srv.httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=3.0) as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "sub": "user-1",
        "email": "user1@example.com",
        "roles": ["dev"],
        "exp": int(time.time()) + 600,
    }
    payload.update(overrides)
    return payload


def _settings(server: JWKSServer, **extra: Any) -> Settings:
    return Settings(
        jwt_jwks_url=server.url,
        jwks_cache_seconds=CACHE_SECONDS,
        jwks_min_refetch_seconds=MIN_REFETCH_SECONDS,
        **extra,
    )


def _verifier(
    server: JWKSServer, http: httpx.AsyncClient, clock: FakeClock, **extra: Any
) -> TokenVerifier:
    return TokenVerifier.from_settings(_settings(server, **extra), http=http, clock=clock)


async def _reason(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as info:
        await verifier.verify(token)
    return info.value.detail


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_keyed_with(key: bytes, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """An HS256 token built by hand (pyjwt refuses PEM HMAC keys, an attacker would not)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


# --- asymmetric tokens ----------------------------------------------------------------------


async def test_rs256_token_via_jwks(
    server: JWKSServer, http: httpx.AsyncClient, clock: FakeClock, rsa1: Signer
) -> None:
    server.serve(rsa1.jwk)
    verifier = _verifier(server, http, clock)
    assert verifier.algorithms == frozenset({"RS256", "ES256"})
    claims = await verifier.verify(rsa1.sign(_payload(), "RS256"))
    assert (claims.sub, claims.roles) == ("user-1", ("dev",))
    assert server.fetches == 1


async def test_es256_token_via_jwks(
    server: JWKSServer, http: httpx.AsyncClient, clock: FakeClock, ec256: Signer
) -> None:
    server.serve(ec256.jwk)
    claims = await _verifier(server, http, clock).verify(ec256.sign(_payload(), "ES256"))
    assert claims.email == "user1@example.com"


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256"])
async def test_listed_rsa_algorithms_with_unpinned_jwk(
    server: JWKSServer, http: httpx.AsyncClient, clock: FakeClock, alg: str
) -> None:
    signer = Signer("rsa-unpinned", _rsa())
    server.serve(signer.jwk)
    verifier = _verifier(server, http, clock, jwt_algorithms=(alg,))
    assert (await verifier.verify(signer.sign(_payload(), alg))).sub == "user-1"
    default = _verifier(server, http, clock)
    assert await _reason(default, signer.sign(_payload(), alg)) == "algorithm not allowed"


async def test_es384_when_listed(
    server: JWKSServer, http: httpx.AsyncClient, clock: FakeClock, ec384: Signer
) -> None:
    server.serve(ec384.jwk)
    verifier = _verifier(server, http, clock, jwt_algorithms=("ES384",))
    assert (await verifier.verify(ec384.sign(_payload(), "ES384"))).sub == "user-1"


async def test_signature_by_other_key_with_known_kid_rejected(
    server: JWKSServer, http: httpx.AsyncClient, clock: FakeClock, rsa1: Signer, rsa2: Signer
) -> None:
    server.serve(rsa1.jwk)
    token = rsa2.sign(_payload(), "RS256", kid=rsa1.kid)
    assert await _reason(_verifier(server, http, clock), token) == "invalid signature"


async def test_key_type_must_match_algorithm(
    server: JWKSServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    rsa1: Signer,
    ec256: Signer,
    ec384: Signer,
) -> None:
    server.serve(rsa1.jwk, ec256.jwk, ec384.jwk)
    verifier = _verifier(server, http, clock, jwt_algorithms=("RS256", "RS512", "ES256", "ES384"))
    mismatch = "signing key does not match algorithm"
    # ES256 header pointing at an RSA key, ES256 at a P-384 key, ES384 at a P-256 key.
    assert await _reason(verifier, ec256.sign(_payload(), "ES256", kid=rsa1.kid)) == mismatch
    assert await _reason(verifier, ec256.sign(_payload(), "ES256", kid=ec384.kid)) == mismatch
    assert await _reason(verifier, ec384.sign(_payload(), "ES384", kid=ec256.kid)) == mismatch
    # The JWK pins alg=RS256: an RS512 token may not use it even though RS512 is allowed.
    assert await _reason(verifier, rsa1.sign(_payload(), "RS512")) == mismatch


async def test_unknown_and_missing_kid_rejected(
    server: JWKSServer, http: httpx.AsyncClient, clock: FakeClock, rsa1: Signer
) -> None:
    server.serve(rsa1.jwk)
    verifier = _verifier(server, http, clock)
    token = rsa1.sign(_payload(), "RS256", kid="nobody")
    assert await _reason(verifier, token) == "unknown signing key"
    no_kid = jwt.encode(_payload(), rsa1.private_key, algorithm="RS256")
    assert await _reason(verifier, no_kid) == "missing key id"


async def test_asymmetric_token_claim_checks_apply(
    server: JWKSServer, http: httpx.AsyncClient, clock: FakeClock, rsa1: Signer
) -> None:
    server.serve(rsa1.jwk)
    verifier = _verifier(server, http, clock, jwt_issuer="https://idp")
    good = _payload(iss="https://idp", aud="gw")
    assert (await verifier.verify(rsa1.sign(good, "RS256"))).sub == "user-1"
    assert await _reason(verifier, rsa1.sign({**good, "iss": "x"}, "RS256")) == "invalid issuer"
    with pytest.raises(Unauthenticated, match="invalid audience"):
        await verifier.verify(rsa1.sign({**good, "aud": "x"}, "RS256"), audiences=frozenset({"gw"}))
    expired = {**good, "exp": int(time.time()) - 100}
    assert await _reason(verifier, rsa1.sign(expired, "RS256")) == "token expired"
    no_exp = {k: v for k, v in good.items() if k != "exp"}
    assert await _reason(verifier, rsa1.sign(no_exp, "RS256")) == "missing claim: exp"


# --- HS/RS confusion ------------------------------------------------------------------------


async def test_hs256_signed_with_public_key_rejected_by_jwks_verifier(
    server: JWKSServer, http: httpx.AsyncClient, clock: FakeClock, rsa1: Signer
) -> None:
    server.serve(rsa1.jwk)
    forged = _hs256_keyed_with(
        rsa1.public_pem, {"alg": "HS256", "typ": "JWT", "kid": rsa1.kid}, _payload()
    )
    verifier = _verifier(server, http, clock)
    assert await _reason(verifier, forged) == "algorithm not allowed"
    # Even when HS256 is explicitly listed, a JWKS-only verifier has no secret to use for it.
    listed = _verifier(server, http, clock, jwt_algorithms=("HS256", "RS256"))
    assert listed.algorithms == frozenset({"RS256"})
    assert await _reason(listed, forged) == "algorithm not allowed"
    assert server.fetches == 0  # the public key was never even looked up


async def test_hs256_signed_with_public_key_rejected_by_combined_verifier(
    server: JWKSServer, http: httpx.AsyncClient, clock: FakeClock, rsa1: Signer
) -> None:
    server.serve(rsa1.jwk)
    verifier = _verifier(server, http, clock, jwt_secret=SECRET)
    assert verifier.algorithms == frozenset({"HS256", "RS256", "ES256"})
    payload = _payload()
    for key in (rsa1.public_pem, json.dumps(rsa1.jwk).encode()):
        forged = _hs256_keyed_with(key, {"alg": "HS256", "kid": rsa1.kid}, payload)
        assert await _reason(verifier, forged) == "invalid signature"
    # Both legitimate paths still work on the same verifier.
    assert (await verifier.verify(jwt.encode(payload, SECRET, algorithm="HS256"))).sub
    assert (await verifier.verify(rsa1.sign(payload, "RS256"))).sub


async def test_rs256_token_never_verified_with_secret(
    server: JWKSServer, http: httpx.AsyncClient, clock: FakeClock, rsa1: Signer
) -> None:
    # An RS256 header with a kid the JWKS lacks must not fall back to the shared secret.
    server.serve()
    verifier = _verifier(server, http, clock, jwt_secret=SECRET)
    header = _b64(json.dumps({"alg": "RS256", "kid": "ghost"}).encode())
    body = _b64(json.dumps(_payload()).encode())
    signing_input = f"{header}.{body}"
    mac = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    assert await _reason(verifier, f"{signing_input}.{_b64(mac)}") == "unknown signing key"


# --- rotation, rate limit, caching ------------------------------------------------------------


async def test_new_kid_triggers_exactly_one_refetch(
    server: JWKSServer, http: httpx.AsyncClient, clock: FakeClock, rsa1: Signer, rsa2: Signer
) -> None:
    server.serve(rsa1.jwk)
    verifier = _verifier(server, http, clock)
    await verifier.verify(rsa1.sign(_payload(), "RS256"))
    assert server.fetches == 1
    clock.advance(MIN_REFETCH_SECONDS)  # still well within the cache lifetime
    server.serve(rsa1.jwk, rsa2.jwk)  # the IdP rotates in a new key
    assert (await verifier.verify(rsa2.sign(_payload(), "RS256"))).sub == "user-1"
    assert server.fetches == 2
    await verifier.verify(rsa2.sign(_payload(), "RS256"))
    await verifier.verify(rsa1.sign(_payload(), "RS256"))
    assert server.fetches == 2


async def test_second_unknown_kid_within_window_not_refetched(
    server: JWKSServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    rsa1: Signer,
    rsa2: Signer,
    rsa3: Signer,
) -> None:
    server.serve(rsa1.jwk)
    verifier = _verifier(server, http, clock)
    await verifier.verify(rsa1.sign(_payload(), "RS256"))
    clock.advance(MIN_REFETCH_SECONDS)
    server.serve(rsa1.jwk, rsa2.jwk)
    await verifier.verify(rsa2.sign(_payload(), "RS256"))
    assert server.fetches == 2
    server.serve(rsa1.jwk, rsa2.jwk, rsa3.jwk)  # published, but we just fetched
    clock.advance(MIN_REFETCH_SECONDS - 1)
    for _ in range(5):
        assert await _reason(verifier, rsa3.sign(_payload(), "RS256")) == "unknown signing key"
    assert server.fetches == 2


async def test_refetch_allowed_again_after_window(
    server: JWKSServer, http: httpx.AsyncClient, clock: FakeClock, rsa1: Signer, rsa2: Signer
) -> None:
    server.serve(rsa1.jwk)
    verifier = _verifier(server, http, clock)
    await verifier.verify(rsa1.sign(_payload(), "RS256"))
    server.serve(rsa1.jwk, rsa2.jwk)
    clock.advance(1)
    assert await _reason(verifier, rsa2.sign(_payload(), "RS256")) == "unknown signing key"
    assert server.fetches == 1
    clock.advance(MIN_REFETCH_SECONDS)
    assert (await verifier.verify(rsa2.sign(_payload(), "RS256"))).sub == "user-1"
    assert server.fetches == 2


async def test_concurrent_unknown_kid_causes_one_fetch(
    server: JWKSServer, http: httpx.AsyncClient, clock: FakeClock, rsa1: Signer, rsa2: Signer
) -> None:
    server.serve(rsa1.jwk)
    verifier = _verifier(server, http, clock)
    await verifier.verify(rsa1.sign(_payload(), "RS256"))
    clock.advance(MIN_REFETCH_SECONDS)
    server.serve(rsa1.jwk, rsa2.jwk)
    token = rsa2.sign(_payload(), "RS256")
    results = await asyncio.gather(*(verifier.verify(token) for _ in range(25)))
    assert {c.sub for c in results} == {"user-1"}
    assert server.fetches == 2
    bogus = rsa2.sign(_payload(), "RS256", kid="never-published")
    clock.advance(MIN_REFETCH_SECONDS)
    outcomes = await asyncio.gather(
        *(verifier.verify(bogus) for _ in range(25)), return_exceptions=True
    )
    assert all(isinstance(o, Unauthenticated) for o in outcomes)
    assert server.fetches == 3


async def test_cache_expiry_refetches_and_drops_removed_keys(
    server: JWKSServer, http: httpx.AsyncClient, clock: FakeClock, rsa1: Signer, rsa2: Signer
) -> None:
    server.serve(rsa1.jwk)
    verifier = _verifier(server, http, clock)
    token1 = rsa1.sign(_payload(), "RS256")
    await verifier.verify(token1)
    clock.advance(CACHE_SECONDS - 1)
    await verifier.verify(token1)
    assert server.fetches == 1
    server.serve(rsa2.jwk)  # rsa-1 retired
    clock.advance(1)
    assert await _reason(verifier, token1) == "unknown signing key"
    assert server.fetches == 2
    assert (await verifier.verify(rsa2.sign(_payload(), "RS256"))).sub == "user-1"
    assert server.fetches == 2


@pytest.mark.parametrize("failure", ["status", "body", "shape"])
async def test_fetch_failure_keeps_old_keys(
    server: JWKSServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    rsa1: Signer,
    rsa2: Signer,
    failure: str,
) -> None:
    server.serve(rsa1.jwk)
    verifier = _verifier(server, http, clock)
    token1 = rsa1.sign(_payload(), "RS256")
    await verifier.verify(token1)
    if failure == "status":
        server.status = 500
    elif failure == "body":
        server.raw_body = b"<html>not json"
    else:
        server.raw_body = b'{"keys": "nope"}'
    server.serve(rsa2.jwk)  # would drop rsa-1, but the fetch is going to fail
    clock.advance(CACHE_SECONDS + 1)
    assert (await verifier.verify(token1)).sub == "user-1"  # stale keys still serve
    assert server.fetches == 2
    clock.advance(MIN_REFETCH_SECONDS)
    assert await _reason(verifier, rsa2.sign(_payload(), "RS256")) == "unknown signing key"
    assert server.fetches == 3


async def test_unreachable_jwks_is_a_401(http: httpx.AsyncClient, rsa1: Signer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(jwt_jwks_url=f"http://127.0.0.1:{port}/jwks.json")
    verifier = TokenVerifier.from_settings(settings, http=http)
    assert await _reason(verifier, rsa1.sign(_payload(), "RS256")) == "unknown signing key"


async def test_cache_skips_unusable_keys(
    server: JWKSServer, http: httpx.AsyncClient, clock: FakeClock, rsa_keys: list[Any]
) -> None:
    good = Signer("good", rsa_keys[0]).jwk
    encryption = {**Signer("enc", rsa_keys[1]).jwk, "use": "enc"}
    no_use = {k: v for k, v in Signer("no-use", rsa_keys[2]).jwk.items() if k != "use"}
    no_kid = {k: v for k, v in good.items() if k != "kid"}
    symmetric = {"kty": "oct", "kid": "oct", "k": _b64(SECRET.encode()), "use": "sig"}
    private = {**RSAAlgorithm.to_jwk(rsa_keys[1], as_dict=True), "kid": "private"}
    broken = {"kty": "RSA", "kid": "broken", "n": "AQAB"}
    server.serve(good, encryption, no_use, no_kid, symmetric, private, broken, "junk")
    cache = JWKSCache(server.url, http=http, clock=clock)
    assert await cache.get_key("good") is not None
    assert await cache.get_key("no-use") is not None
    for kid in ("enc", "oct", "private", "broken"):
        assert await cache.get_key(kid) is None
    assert server.fetches == 1


async def test_aclose_closes_only_owned_client(
    server: JWKSServer, http: httpx.AsyncClient, rsa1: Signer
) -> None:
    server.serve(rsa1.jwk)
    owned = TokenVerifier.from_settings(_settings(server))
    assert (await owned.verify(rsa1.sign(_payload(), "RS256"))).sub == "user-1"
    await owned.aclose()
    assert owned._jwks is not None and owned._jwks._http.is_closed
    shared = TokenVerifier.from_settings(_settings(server), http=http)
    await shared.aclose()
    assert not http.is_closed
