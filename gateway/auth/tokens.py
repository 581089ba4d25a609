"""Verify a bearer JWT into `Claims`, or refuse it with a short, non-secret reason (401).

The algorithm is never the token's choice alone: the header's `alg` must be on the allow-list,
and it decides which *kind* of key is used: HS* only ever with the shared secret, RS*/PS*/ES*
only with a JWKS key of the matching type. That rules out HS/RS confusion (an HMAC token
"signed" with a public key's bytes) and `alg: none` by construction, not by pyjwt's defaults.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ec import (
    SECP256R1,
    SECP384R1,
    EllipticCurve,
    EllipticCurvePublicKey,
)
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import HMACAlgorithm
from jwt.exceptions import InvalidJTIError, InvalidSubjectError
from jwt.types import Options

from gateway.auth.authorization_servers import AuthorizationServers
from gateway.auth.claims import Claims, ClaimsReader
from gateway.auth.jwks import JWKSCache, SigningKey
from gateway.auth.token_cache import VerifiedTokenCache
from gateway.config import MIN_HMAC_SECRET_BYTES, ConfigError, Settings
from gateway.errors import Unauthenticated

log = logging.getLogger(__name__)

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256"})
EC_CURVES: dict[str, type[EllipticCurve]] = {"ES256": SECP256R1, "ES384": SECP384R1}
ASYMMETRIC_ALGORITHMS = RSA_ALGORITHMS | frozenset(EC_CURVES)
SUPPORTED_ALGORITHMS = HMAC_ALGORITHMS | ASYMMETRIC_ALGORITHMS
DEFAULT_HMAC_ALGORITHMS = frozenset({"HS256"})
DEFAULT_JWKS_ALGORITHMS = frozenset({"RS256", "ES256"})
DEFAULT_LEEWAY_SECONDS = 30.0
DEFAULT_MAX_LIFETIME_SECONDS = 86400
# Far above any real token; refusing early keeps base64/JSON work bounded.
MAX_TOKEN_LENGTH = 16 * 1024

_JWT_ERRORS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    # Order matters: subclasses before their bases.
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidSignatureError, "invalid signature"),
    (jwt.InvalidIssuerError, "invalid issuer"),
    (jwt.InvalidAudienceError, "invalid audience"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed"),
    (jwt.InvalidIssuedAtError, "invalid claims: iat"),
    (InvalidSubjectError, "invalid claims: sub"),
    (InvalidJTIError, "invalid claims: jti"),
    (jwt.InvalidKeyError, "invalid signing key"),
    (jwt.DecodeError, "malformed token"),
)


class TokenVerifier:
    """Checks signature, algorithm, expiry, issuer and lifetime, then the claims' shape; the
    audience per route (`verify(audiences=…)`: /mcp and /v1 accept different sets)."""

    def __init__(
        self,
        *,
        secret: str | None = None,
        jwks: JWKSCache | None = None,
        authorization_servers: AuthorizationServers | None = None,
        algorithms: Iterable[str] | None = None,
        issuer: str | None = None,
        leeway_seconds: float = DEFAULT_LEEWAY_SECONDS,
        max_lifetime_seconds: int = DEFAULT_MAX_LIFETIME_SECONDS,
        cache: VerifiedTokenCache | None = None,
        reader: ClaimsReader | None = None,
    ) -> None:
        if authorization_servers is not None and not authorization_servers.issuers:
            authorization_servers = None
        if not secret and jwks is None and authorization_servers is None:
            raise ConfigError(
                "JWT verification needs GATEWAY_JWT_SECRET, GATEWAY_JWT_JWKS_URL or "
                "GATEWAY_OAUTH_AUTHORIZATION_SERVERS"
            )
        if secret and len(secret.encode()) < MIN_HMAC_SECRET_BYTES:
            raise ConfigError(
                f"GATEWAY_JWT_SECRET: at least {MIN_HMAC_SECRET_BYTES} bytes for HS256 "
                f"(RFC 7518 §3.2), not {len(secret.encode())}; e.g. `openssl rand -hex 32`"
            )
        if secret:
            try:
                HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(secret)
            except jwt.InvalidKeyError:
                # pyjwt refuses PEM/JWK-looking HMAC secrets; say so at startup, not per request.
                raise ConfigError(
                    "GATEWAY_JWT_SECRET looks like an asymmetric key or JWK, not a shared secret"
                ) from None
        self._secret = secret or None
        self._jwks = jwks
        self._servers = authorization_servers
        has_keys = jwks is not None or authorization_servers is not None
        self._algorithms = _allowed_algorithms(
            algorithms, has_secret=bool(secret), has_keys=has_keys
        )
        # The issuer a token must name: the configured one; else a token verified with an
        # authorization server's keys must name that server (chosen by its `iss`).
        self._issuer = issuer
        self._leeway = leeway_seconds
        self._max_lifetime = max_lifetime_seconds
        self._reader = reader or ClaimsReader()
        self.cache = cache if cache is not None else VerifiedTokenCache()
        # The audience is checked per route by `verify`, not by pyjwt; `iss` is required where
        # an issuer is expected (`_decode`).
        self._options: Options = {"require": ["exp", "sub"], "verify_aud": False}

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        http: httpx.AsyncClient | None = None,
        leeway_seconds: float = DEFAULT_LEEWAY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> TokenVerifier:
        """The verifier for these settings; `http` is shared (not closed by `aclose`)."""
        jwks = (
            JWKSCache.from_settings(settings, http=http, clock=clock)
            if settings.jwt_jwks_url
            else None
        )
        servers = None
        if settings.oauth_authorization_servers and jwks is None:
            servers = AuthorizationServers(
                settings.oauth_authorization_servers,
                http=http or httpx.AsyncClient(timeout=5.0),
                cache_seconds=settings.jwks_cache_seconds,
                min_refetch_seconds=settings.jwks_min_refetch_seconds,
                clock=clock,
            )
        return cls(
            secret=settings.jwt_secret,
            jwks=jwks,
            authorization_servers=servers,
            algorithms=settings.jwt_algorithms,
            issuer=settings.jwt_issuer,
            leeway_seconds=leeway_seconds,
            max_lifetime_seconds=settings.jwt_max_lifetime_seconds,
            reader=ClaimsReader(settings.jwt_roles_claim, settings.jwt_claims),
        )

    @property
    def algorithms(self) -> frozenset[str]:
        """The effective allow-list (configured or derived, minus what has no key)."""
        return self._algorithms

    async def verify(self, token: str, *, audiences: frozenset[str] | None = None) -> Claims:
        """The token's claims, or `Unauthenticated` with a reason safe to return to callers.
        `audiences`: the token's `aud` must name one of them (None: not checked)."""
        claims = await self._verified(token)
        if audiences is not None and audiences.isdisjoint(claims.aud):
            raise Unauthenticated("invalid audience") from None
        return claims

    async def _verified(self, token: str) -> Claims:
        if not isinstance(token, str) or not token.strip():
            raise Unauthenticated("missing token")
        if len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated("malformed token")
        remembered = self.cache.get(token)
        if remembered is not None:
            claims, binding = remembered
            if binding is None or await self._still_served(binding):
                return claims
            self.cache.forget(token)
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError, TypeError):
            raise Unauthenticated("malformed token") from None
        alg = header.get("alg")
        # `none` is never in self._algorithms, whatever the configuration said.
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise Unauthenticated("algorithm not allowed")
        key, jwks, issuer = await self._key_for(alg, header, token)
        payload = self._decode(token, key, alg, self._issuer or issuer)
        self._check_lifetime(payload)
        claims = _to_claims(payload, self._reader)
        binding = None if jwks is None else (jwks, str(header["kid"]), key)
        self.cache.put(token, claims, expires_at=claims.exp + self._leeway, binding=binding)
        return claims

    def _check_lifetime(self, payload: dict[str, Any]) -> None:
        """A stolen token is only as dangerous as it is long-lived: refuse one whose validity
        (from `iat`, or from now without it) is longer than the configured maximum."""
        iat = payload.get("iat")
        issued = iat if isinstance(iat, int | float) else time.time()
        if payload["exp"] - issued > self._max_lifetime + self._leeway:
            raise Unauthenticated(f"token lifetime exceeds {self._max_lifetime} s")

    async def _still_served(self, binding: tuple[Any, ...]) -> bool:
        """Whether the JWKS still serves the key a remembered token was verified with."""
        jwks, kid, key = binding
        current = await jwks.get_key(kid)
        return current is not None and current.key is key

    async def aclose(self) -> None:
        """Release the JWKS HTTP client (only closed if the verifier created it)."""
        if self._jwks is not None:
            await self._jwks.aclose()

    async def _key_for(
        self, alg: str, header: dict[str, Any], token: str
    ) -> tuple[str | RSAPublicKey | EllipticCurvePublicKey, JWKSCache | None, str | None]:
        """The key, the key set it came from, and the issuer the token must then name."""
        if alg in HMAC_ALGORITHMS:
            if self._secret is None:  # unreachable: HS* is only allowed with a secret
                raise Unauthenticated("algorithm not allowed")
            return self._secret, None, None
        issuer = None
        jwks = self._jwks
        if jwks is None:
            jwks, issuer = await self._issuers_keys(token)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("missing key id")
        signing_key = await jwks.get_key(kid)
        if signing_key is None:
            raise Unauthenticated("unknown signing key")
        if not _key_fits(signing_key, alg):
            raise Unauthenticated("signing key does not match algorithm")
        return signing_key.key, jwks, issuer

    async def _issuers_keys(self, token: str) -> tuple[JWKSCache, str]:
        """The key set of the authorization server the token says issued it: chosen by the
        unverified `iss`, then the signature and `iss` are verified with it."""
        if self._servers is None:  # unreachable: asymmetric algs are only allowed with keys
            raise Unauthenticated("algorithm not allowed")
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            raise Unauthenticated("malformed token") from None
        jwks = await self._servers.keys_for(issuer) if isinstance(issuer, str) else None
        if jwks is None or not isinstance(issuer, str):
            raise Unauthenticated("invalid issuer")
        return jwks, issuer

    def _decode(
        self,
        token: str,
        key: str | RSAPublicKey | EllipticCurvePublicKey,
        alg: str,
        issuer: str | None,
    ) -> dict[str, Any]:
        options: Options = {**self._options, "require": [*self._options["require"], "iss"]}
        try:
            return jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                options=options if issuer is not None else self._options,
                issuer=issuer,
                leeway=self._leeway,
            )
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"missing claim: {exc.claim}") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(_reason(exc)) from None
        except (ValueError, TypeError):
            # Defensive: odd inputs deep in the crypto layer must still be a 401.
            raise Unauthenticated("malformed token") from None


def _allowed_algorithms(
    configured: Iterable[str] | None, *, has_secret: bool, has_keys: bool
) -> frozenset[str]:
    wanted: set[str] = set()
    if configured is None:
        if has_secret:
            wanted |= DEFAULT_HMAC_ALGORITHMS
        if has_keys:
            wanted |= DEFAULT_JWKS_ALGORITHMS
    else:
        names = [a.strip() for a in configured if a.strip()]
        if any(a.lower() == "none" for a in names):
            log.warning("JWT algorithm 'none' is never accepted; ignoring it")
        wanted = {a for a in names if a.lower() != "none"}
        unsupported = sorted(wanted - SUPPORTED_ALGORITHMS)
        if unsupported:
            raise ConfigError(
                f"GATEWAY_JWT_ALGORITHMS: unsupported {unsupported}; "
                f"choose from {sorted(SUPPORTED_ALGORITHMS)}"
            )
    keyless: set[str] = set()
    if not has_secret:
        keyless |= wanted & HMAC_ALGORITHMS
    if not has_keys:
        keyless |= wanted & ASYMMETRIC_ALGORITHMS
    if keyless:
        log.warning("JWT algorithms %s have no key configured; ignoring them", sorted(keyless))
    allowed = frozenset(wanted - keyless)
    if not allowed:
        raise ConfigError("GATEWAY_JWT_ALGORITHMS: no algorithm usable with the configured keys")
    return allowed


def _key_fits(signing_key: SigningKey, alg: str) -> bool:
    """The key's type (and curve) must match the token's algorithm family, and a JWK that
    pins its own `alg` is used for that algorithm only."""
    if signing_key.alg is not None and signing_key.alg != alg:
        return False
    key = signing_key.key
    if alg in RSA_ALGORITHMS:
        return isinstance(key, RSAPublicKey)
    curve = EC_CURVES.get(alg)
    return (
        curve is not None
        and isinstance(key, EllipticCurvePublicKey)
        and isinstance(key.curve, curve)
    )


def _reason(exc: jwt.PyJWTError) -> str:
    for kind, reason in _JWT_ERRORS:
        if isinstance(exc, kind):
            return reason
    return "invalid token"


def _to_claims(payload: dict[str, Any], reader: ClaimsReader) -> Claims:
    exp = payload.get("exp")
    if isinstance(exp, float):
        # NumericDate may be fractional; pyjwt has checked it, truncating only shortens it.
        payload = {**payload, "exp": int(exp)}
    return reader.read(payload)
