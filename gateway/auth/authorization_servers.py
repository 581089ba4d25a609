"""The keys of the authorization servers the gateway trusts (GATEWAY_OAUTH_AUTHORIZATION_SERVERS),
found the way an MCP client finds them: each issuer's metadata — RFC 8414
(`/.well-known/oauth-authorization-server`, path-inserted), else OpenID Connect discovery
(`/.well-known/openid-configuration`, which Hydra serves) — names its `jwks_uri`. The
metadata must name the issuer it was fetched for (RFC 8414 §3.3), or it is not used."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import httpx
import msgspec

from gateway.auth.jwks import JWKSCache

log = logging.getLogger(__name__)


class _Metadata(msgspec.Struct):
    issuer: str
    jwks_uri: str | None = None


def metadata_urls(issuer: str) -> list[str]:
    """Where an issuer's metadata may be, in the order tried."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    rfc8414 = urlunsplit(
        (parts.scheme, parts.netloc, f"/.well-known/oauth-authorization-server{path}", "", "")
    )
    return [rfc8414, f"{issuer.rstrip('/')}/.well-known/openid-configuration"]


class AuthorizationServers:
    def __init__(
        self,
        issuers: tuple[str, ...],
        *,
        http: httpx.AsyncClient,
        cache_seconds: float = 300.0,
        min_refetch_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuers = frozenset(issuers)
        self._http = http
        self._cache_seconds = cache_seconds
        self._min_refetch = min_refetch_seconds
        self._clock = clock
        self._keys: dict[str, JWKSCache] = {}
        self._tried: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def keys_for(self, issuer: str) -> JWKSCache | None:
        """The issuer's key set, or None (not a configured issuer, or its metadata cannot be
        had now: tried again after `min_refetch_seconds`)."""
        if issuer not in self.issuers:
            return None
        found = self._keys.get(issuer)
        if found is not None:
            return found
        async with self._lock:
            found = self._keys.get(issuer)
            last = self._tried.get(issuer)
            if found is None and (last is None or self._clock() - last >= self._min_refetch):
                self._tried[issuer] = self._clock()
                jwks_uri = await self._discover(issuer)
                if jwks_uri is not None:
                    found = self._keys[issuer] = JWKSCache(
                        jwks_uri,
                        http=self._http,
                        cache_seconds=self._cache_seconds,
                        min_refetch_seconds=self._min_refetch,
                        clock=self._clock,
                    )
            return found

    async def _discover(self, issuer: str) -> str | None:
        for url in metadata_urls(issuer):
            try:
                response = await self._http.get(url)
                if response.status_code == 404:
                    continue
                response.raise_for_status()
                metadata = msgspec.json.decode(response.content, type=_Metadata)
            except (httpx.HTTPError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                log.warning("authorization server metadata %s: %s", url, type(exc).__name__)
                continue
            if metadata.issuer.rstrip("/") != issuer.rstrip("/"):
                log.warning(
                    "authorization server metadata %s names issuer %r", url, metadata.issuer
                )
                continue
            if metadata.jwks_uri:
                return metadata.jwks_uri
        log.warning("no usable metadata for authorization server %s", issuer)
        return None
