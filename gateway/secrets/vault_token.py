"""Keeps the Vault token alive: renews it at a fraction of its TTL, or logs in again with
AppRole when it cannot be renewed any further. Every hvac call goes through the store's
bounded thread pool (`call`), so failures arrive as BackendUnavailable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, Protocol, TypeVar

import hvac

from gateway.errors import BackendUnavailable
from gateway.secrets.base import SecretValue

log = logging.getLogger(__name__)

T = TypeVar("T")


class Call(Protocol):
    """Runs one blocking hvac call off the event loop (VaultSecretStore._call)."""

    def __call__(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Awaitable[T]: ...


DEFAULT_RENEW_FRACTION = 2 / 3
_RETRY_MIN = 1.0
_RETRY_MAX = 30.0


class _TokenInfo(NamedTuple):
    ttl: float  # seconds left when looked up; 0 = never expires
    renewable: bool
    full_ttl: float  # the TTL the token was issued with: what a renewal should restore


class VaultToken:
    def __init__(
        self,
        client: hvac.Client,
        call: Call,
        *,
        approle: tuple[str, SecretValue] | None,
        approle_mount: str = "approle",
        renew_fraction: float = DEFAULT_RENEW_FRACTION,
    ) -> None:
        self._client = client
        self._call = call
        self.approle = approle
        self._approle_mount = approle_mount
        self._renew_fraction = renew_fraction
        self._renew_task: asyncio.Task[None] | None = None
        self.renewals = 0  # successful token renewals (observability, tests)
        self.logins = 0  # successful AppRole logins

    async def start(self) -> None:
        """Log in (AppRole), look the token up, and schedule its renewal."""
        if self.approle is not None:
            await self._call(self._login)
        info = await self._call(self.lookup_self)
        self._schedule_renewal(info)

    async def stop(self) -> None:
        if self._renew_task is not None:
            self._renew_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renew_task
            self._renew_task = None

    @property
    def renewing(self) -> bool:
        return self._renew_task is not None

    def _login(self) -> None:
        assert self.approle is not None
        role_id, secret_id = self.approle
        # use_token=True (the default) makes hvac keep the new client token.
        self._client.auth.approle.login(
            role_id=role_id, secret_id=secret_id.reveal(), mount_point=self._approle_mount
        )
        self.logins += 1

    def lookup_self(self) -> _TokenInfo:
        data = self._client.auth.token.lookup_self()["data"]  # holds the token: never log it
        ttl = float(data.get("ttl") or 0)
        return _TokenInfo(
            ttl=ttl,
            renewable=bool(data.get("renewable")),
            full_ttl=float(data.get("creation_ttl") or ttl),
        )

    def _renew_self(self, full_ttl: float) -> _TokenInfo:
        auth = self._client.auth.token.renew_self()["auth"]
        return _TokenInfo(
            ttl=float(auth.get("lease_duration") or 0),
            renewable=bool(auth.get("renewable")),
            full_ttl=full_ttl,
        )

    def _schedule_renewal(self, info: _TokenInfo) -> None:
        if info.ttl <= 0:
            return  # never expires (e.g. a root token)
        if not info.renewable and self.approle is None:
            log.warning(
                "vault token is not renewable and expires in %.0fs; the gateway will lose "
                "vault access then",
                info.ttl,
            )
            return
        self._renew_task = asyncio.get_running_loop().create_task(
            self._renew_loop(info), name="vault-token-renewal"
        )

    async def _refresh(self, info: _TokenInfo) -> _TokenInfo:
        """Renew the token; with AppRole, log in again when renewal fails or stops extending."""
        if info.renewable:
            try:
                renewed: _TokenInfo | None = await self._call(self._renew_self, info.full_ttl)
            except BackendUnavailable:
                if self.approle is None:
                    raise
                renewed = None
            # Less than the issued TTL means the max TTL caps it: a fresh login restarts the
            # clock (with only a token, renew until the server refuses).
            if renewed is not None and (renewed.ttl >= info.full_ttl or self.approle is None):
                self.renewals += 1
                log.info("vault token renewed; ttl %.0fs", renewed.ttl)
                return renewed
        await self._call(self._login)
        fresh = await self._call(self.lookup_self)
        log.info("vault token replaced by a new AppRole login; ttl %.0fs", fresh.ttl)
        return fresh

    async def _renew_loop(self, info: _TokenInfo) -> None:
        loop = asyncio.get_running_loop()
        obtained = loop.time()
        while info.ttl > 0 and (info.renewable or self.approle is not None):
            due = obtained + info.ttl * self._renew_fraction
            await asyncio.sleep(max(due - loop.time(), 0.0))
            try:
                info = await self._refresh(info)
                obtained = loop.time()
            except BackendUnavailable as exc:
                left = obtained + info.ttl - loop.time()
                retry_in = min(_RETRY_MAX, max(_RETRY_MIN, left / 3))
                log.warning(
                    "vault token refresh failed (%s); %.0fs left, retrying in %.0fs",
                    exc.detail,
                    max(left, 0.0),
                    retry_in,
                )
                await asyncio.sleep(retry_in)
            except Exception:  # a bug must not silently end renewal
                log.exception("vault token renewal failed unexpectedly; retrying")
                await asyncio.sleep(_RETRY_MAX)
