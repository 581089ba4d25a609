"""The identity provider's public signing keys, fetched from its JWKS URL and cached by `kid`.

Fetches are rate-limited: an attacker sending tokens with random `kid`s must not turn the
gateway into a load generator against the identity provider. A failed fetch keeps the keys
we already have, so a flaky JWKS endpoint degrades to "new keys not yet known", never to an
outage for tokens signed with known keys.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

if TYPE_CHECKING:
    from gateway.config import Settings

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 3.0
# Only asymmetric key types are taken from a JWKS: a symmetric ("oct") key there would be
# published to the world, and accepting one would reopen HS/RS confusion.
_ACCEPTED_KTY = frozenset({"RSA", "EC"})


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A public verification key; `alg` is the JWK's own `alg` when it pins one."""

    kid: str
    kty: str
    alg: str | None
    key: RSAPublicKey | EllipticCurvePublicKey


class JWKSCache:
    """Keys by `kid`, refreshed after `cache_seconds`, refetched for an unknown `kid` at most
    once per `min_refetch_seconds`. The clock is injectable so tests need not sleep."""

    def __init__(
        self,
        url: str,
        *,
        http: httpx.AsyncClient | None = None,
        cache_seconds: float = 300.0,
        min_refetch_seconds: float = 30.0,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=timeout_seconds)
        self._timeout = timeout_seconds
        self._cache_seconds = cache_seconds
        self._min_refetch_seconds = min_refetch_seconds
        self._clock = clock
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last attempt, successful or not
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> JWKSCache:
        if not settings.jwt_jwks_url:
            raise ValueError("settings.jwt_jwks_url is not set")
        return cls(
            settings.jwt_jwks_url,
            http=http,
            cache_seconds=settings.jwks_cache_seconds,
            min_refetch_seconds=settings.jwks_min_refetch_seconds,
            clock=clock,
        )

    @property
    def url(self) -> str:
        return self._url

    async def get_key(self, kid: str) -> SigningKey | None:
        """The key for `kid`, fetching first if the cache is stale or `kid` is new (and the
        rate limit allows); None when it is still unknown."""
        key = self._keys.get(kid)
        if key is not None and self._fresh():
            return key
        async with self._lock:
            # Another request may have fetched while we waited: look again before fetching.
            key = self._keys.get(kid)
            if key is not None and self._fresh():
                return key
            if self._may_fetch():
                await self._fetch()
            return self._keys.get(kid)

    async def aclose(self) -> None:
        """Close the HTTP client, but only if this cache created it."""
        if self._owns_http:
            await self._http.aclose()

    def _fresh(self) -> bool:
        return (
            self._fetched_at is not None and self._clock() - self._fetched_at < self._cache_seconds
        )

    def _may_fetch(self) -> bool:
        return (
            self._attempted_at is None
            or self._clock() - self._attempted_at >= self._min_refetch_seconds
        )

    async def _fetch(self) -> None:
        self._attempted_at = self._clock()
        try:
            response = await self._http.get(self._url, timeout=self._timeout)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("JWKS fetch from %s failed (%s); keeping cached keys", self._url, exc)
            return
        except RuntimeError as exc:  # e.g. the shared client was closed during shutdown
            log.warning("JWKS fetch from %s impossible (%s)", self._url, exc)
            return
        keys = _parse_jwks(document)
        if keys is None:
            log.warning("JWKS from %s is not a JSON object with a `keys` list", self._url)
            return
        self._keys = keys
        self._fetched_at = self._clock()
        log.info("JWKS from %s: %d signing key(s)", self._url, len(keys))


def _parse_jwks(document: Any) -> dict[str, SigningKey] | None:
    """Usable signing keys by kid; None when the document itself is malformed."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        return None
    keys: dict[str, SigningKey] = {}
    for entry in document["keys"]:
        key = _parse_key(entry)
        if key is not None:
            keys[key.kid] = key
    return keys


def _parse_key(entry: Any) -> SigningKey | None:
    if not isinstance(entry, Mapping):
        return None
    kid, kty, use, alg = (entry.get(f) for f in ("kid", "kty", "use", "alg"))
    if not isinstance(kid, str) or not kid:
        log.debug("JWKS key without a kid skipped")
        return None
    if use is not None and use != "sig":
        log.debug("JWKS key %r skipped: use=%r", kid, use)
        return None
    if kty not in _ACCEPTED_KTY:
        log.debug("JWKS key %r skipped: kty=%r", kid, kty)
        return None
    if alg is not None and not isinstance(alg, str):
        return None
    try:
        parsed = jwt.PyJWK(dict(entry))
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        log.warning("JWKS key %r skipped: %s", kid, type(exc).__name__)
        return None
    if not isinstance(parsed.key, RSAPublicKey | EllipticCurvePublicKey):
        # A private key in a public JWKS is a leak at the identity provider; refuse to use it.
        log.error("JWKS key %r skipped: not a public key", kid)
        return None
    return SigningKey(kid=kid, kty=str(kty), alg=alg, key=parsed.key)
