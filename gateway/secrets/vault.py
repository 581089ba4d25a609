"""Vault/OpenBao adapter of the secrets port: KV v2 through ``hvac``.

hvac is blocking, so every call runs on a small dedicated thread pool (never on the event
loop, never on the loop's shared default executor) with a client-side request timeout.
Failures of any kind surface as ``BackendUnavailable`` with a short, value-free reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, TypeVar

import hvac
import hvac.exceptions
import requests

from gateway.config import ConfigError, Settings
from gateway.errors import BackendUnavailable
from gateway.secrets.base import (
    ENTERPRISE_SEGMENT,
    ENV_VAR_RE,
    ROOT,
    VALUE_KEY,
    SecretOwner,
    SecretValue,
    secret_path,
    server_prefix,
    validate_env_var,
    validate_values,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT = 5.0
DEFAULT_RENEW_FRACTION = 2 / 3
MAX_WORKERS = 8
_RETRY_MIN = 1.0
_RETRY_MAX = 30.0
# Never a secret (enterprise ids start with `ent_`): readiness reads its metadata to prove
# the KV v2 mount exists and the token may read the tree; a 404 is the healthy answer.
_PROBE_PATH = f"{ROOT}/{ENTERPRISE_SEGMENT}/.readiness-probe"


class _TokenInfo(NamedTuple):
    ttl: float  # seconds left when looked up; 0 = never expires
    renewable: bool
    full_ttl: float  # the TTL the token was issued with: what a renewal should restore


class _Closed(Exception):
    """The store was closed; no more calls are scheduled."""


def _reason(exc: BaseException) -> str:
    """A short cause for the 503 detail, from the exception type only (never its payload)."""
    if isinstance(exc, _Closed):
        return "store closed"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timeout"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "connection failed"
    if isinstance(exc, requests.exceptions.RequestException):
        return "request failed"
    reasons: list[tuple[type[BaseException], str]] = [
        (hvac.exceptions.VaultDown, "sealed or down (503)"),
        (hvac.exceptions.Forbidden, "permission denied"),
        (hvac.exceptions.Unauthorized, "unauthorized"),
        (hvac.exceptions.InvalidPath, "path not served (is vault_mount a KV v2 engine?)"),
        (hvac.exceptions.InvalidRequest, "invalid request"),
        (hvac.exceptions.RateLimitExceeded, "rate limited"),
        (hvac.exceptions.InternalServerError, "internal server error"),
        (hvac.exceptions.VaultNotInitialized, "not initialized"),
        (hvac.exceptions.BadGateway, "bad gateway"),
    ]
    for kind, reason in reasons:
        if isinstance(exc, kind):
            return reason
    return f"unexpected {type(exc).__name__}"


def _is_missing(exc: hvac.exceptions.InvalidPath) -> bool:
    """KV answers a missing secret with a bare 404; an unknown mount's 404 carries errors."""
    return not exc.errors


class VaultSecretStore:
    """``SecretStore`` on Vault/OpenBao KV v2, authenticating with a token or AppRole.

    Authentication and the token lookup happen on first use (or ``start()``); if the
    token expires, a background task renews it at ``renew_fraction`` of its TTL, or logs
    in again with AppRole when it cannot be renewed any further.
    """

    def __init__(
        self,
        addr: str,
        *,
        mount: str = "secret",
        token: str | None = None,
        role_id: str | None = None,
        secret_id: str | None = None,
        approle_mount: str = "approle",
        timeout: float = DEFAULT_TIMEOUT,
        renew_fraction: float = DEFAULT_RENEW_FRACTION,
        max_workers: int = MAX_WORKERS,
    ) -> None:
        if not addr:
            raise ConfigError("vault address is empty")
        if (role_id is None) != (secret_id is None):
            raise ConfigError("AppRole needs both GATEWAY_VAULT_ROLE_ID and _SECRET_ID")
        if role_id is None and not token:
            raise ConfigError(
                "Vault needs GATEWAY_VAULT_TOKEN, or GATEWAY_VAULT_ROLE_ID and "
                "GATEWAY_VAULT_SECRET_ID for AppRole"
            )
        if not 0 < renew_fraction < 1:
            raise ConfigError(f"renew_fraction must be in (0, 1), not {renew_fraction}")
        self._addr = addr
        self._mount = mount.strip("/")
        if not self._mount:
            raise ConfigError("GATEWAY_VAULT_MOUNT is empty")
        self._approle: tuple[str, SecretValue] | None = (
            (role_id, SecretValue(secret_id))
            if role_id is not None and secret_id is not None
            else None
        )
        self._approle_mount = approle_mount
        self._renew_fraction = renew_fraction
        # AppRole starts without a token: an empty string keeps hvac from reading
        # VAULT_TOKEN or ~/.vault-token behind our back.
        self._client = hvac.Client(
            url=addr, token=token if self._approle is None else "", timeout=timeout
        )
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="vault")
        self._ready = False
        self._ready_lock = asyncio.Lock()
        self._renew_task: asyncio.Task[None] | None = None
        self._closed = False
        self.renewals = 0  # successful token renewals (observability, tests)
        self.logins = 0  # successful AppRole logins

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        renew_fraction: float = DEFAULT_RENEW_FRACTION,
    ) -> VaultSecretStore:
        """Build from Settings; no I/O happens until first use."""
        if not settings.vault_addr:
            raise ConfigError("GATEWAY_VAULT_ADDR (or VAULT_ADDR) is not set")
        approle = settings.vault_role_id is not None or settings.vault_secret_id is not None
        return cls(
            settings.vault_addr,
            mount=settings.vault_mount,
            # AppRole, when configured, wins over a token that may be inherited from VAULT_TOKEN.
            token=None if approle else settings.vault_token,
            role_id=settings.vault_role_id,
            secret_id=settings.vault_secret_id,
            timeout=timeout,
            renew_fraction=renew_fraction,
        )

    def __repr__(self) -> str:
        auth = "approle" if self._approle else "token"
        return f"VaultSecretStore(addr={self._addr!r}, mount={self._mount!r}, auth={auth!r})"

    # -- plumbing ---------------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run one blocking hvac call on the pool, translating every failure to a 503."""
        try:
            if self._closed:
                raise _Closed
            loop = asyncio.get_running_loop()
            try:
                return await loop.run_in_executor(
                    self._pool, functools.partial(fn, *args, **kwargs)
                )
            except RuntimeError as exc:  # the pool was shut down under us
                if self._closed:
                    raise _Closed from exc
                raise
        except (hvac.exceptions.VaultError, requests.exceptions.RequestException, _Closed) as exc:
            raise BackendUnavailable(f"vault unavailable: {_reason(exc)}") from exc

    @staticmethod
    async def _all(calls: Sequence[Awaitable[T]]) -> list[T]:
        """Await all calls (none left running behind a failure), then raise the first error."""
        results = await asyncio.gather(*calls, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results  # type: ignore[return-value]

    async def start(self) -> None:
        """Authenticate and start token renewal now rather than on first use."""
        if self._ready:
            return
        async with self._ready_lock:
            if self._ready:
                return
            if self._approle is not None:
                await self._call(self._login)
            info = await self._call(self._lookup_self)
            self._schedule_renewal(info)
            self._ready = True

    # -- token lifecycle ----------------------------------------------------------------

    def _login(self) -> None:
        assert self._approle is not None
        role_id, secret_id = self._approle
        # use_token=True (the default) makes hvac keep the new client token.
        self._client.auth.approle.login(
            role_id=role_id, secret_id=secret_id.reveal(), mount_point=self._approle_mount
        )
        self.logins += 1

    def _lookup_self(self) -> _TokenInfo:
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
        if not info.renewable and self._approle is None:
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
                if self._approle is None:
                    raise
                renewed = None
            # Less than the issued TTL means the max TTL caps it: a fresh login restarts the
            # clock (with only a token, renew until the server refuses).
            if renewed is not None and (renewed.ttl >= info.full_ttl or self._approle is None):
                self.renewals += 1
                log.info("vault token renewed; ttl %.0fs", renewed.ttl)
                return renewed
        await self._call(self._login)
        fresh = await self._call(self._lookup_self)
        log.info("vault token replaced by a new AppRole login; ttl %.0fs", fresh.ttl)
        return fresh

    async def _renew_loop(self, info: _TokenInfo) -> None:
        loop = asyncio.get_running_loop()
        obtained = loop.time()
        while info.ttl > 0 and (info.renewable or self._approle is not None):
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

    # -- blocking KV helpers (run on the pool) ------------------------------------------

    def _write(self, path: str, value: SecretValue) -> None:
        self._client.secrets.kv.v2.create_or_update_secret(
            path=path, secret={VALUE_KEY: value.reveal()}, mount_point=self._mount
        )

    def _read(self, path: str) -> SecretValue | None:
        try:
            response = self._client.secrets.kv.v2.read_secret_version(
                path=path, mount_point=self._mount, raise_on_deleted_version=True
            )
        except hvac.exceptions.InvalidPath as exc:
            if _is_missing(exc):
                return None
            raise
        data = (response.get("data") or {}).get("data") or {}
        value = data.get(VALUE_KEY)
        if not isinstance(value, str):
            log.warning("vault secret %s has no string %r field; ignored", path, VALUE_KEY)
            return None
        return SecretValue(value)

    def _is_live(self, path: str) -> bool:
        """Whether the current version exists and is neither soft-deleted nor destroyed."""
        try:
            meta = self._client.secrets.kv.v2.read_secret_metadata(
                path=path, mount_point=self._mount
            )["data"]
        except hvac.exceptions.InvalidPath as exc:
            if _is_missing(exc):
                return False
            raise
        versions: dict[str, Any] = meta.get("versions") or {}
        current: dict[str, Any] = versions.get(str(meta.get("current_version"))) or {}
        return bool(current) and not current.get("deletion_time") and not current.get("destroyed")

    def _list(self, prefix: str) -> list[str]:
        try:
            response = self._client.secrets.kv.v2.list_secrets(path=prefix, mount_point=self._mount)
        except hvac.exceptions.InvalidPath as exc:
            if _is_missing(exc):
                return []
            raise
        keys = (response.get("data") or {}).get("keys") or []
        return [k for k in keys if isinstance(k, str)]

    def _destroy(self, path: str) -> None:
        try:
            self._client.secrets.kv.v2.delete_metadata_and_all_versions(
                path=path, mount_point=self._mount
            )
        except hvac.exceptions.InvalidPath as exc:
            if not _is_missing(exc):
                raise

    def _probe(self) -> None:
        self._read(_PROBE_PATH)

    # -- SecretStore --------------------------------------------------------------------

    async def put_many(self, owner: SecretOwner, values: Mapping[str, str]) -> None:
        validate_values(values)  # all names first: nothing is written if one is bad
        writes = {secret_path(owner, name): SecretValue(v) for name, v in values.items()}
        await self.start()
        await self._all([self._call(self._write, p, v) for p, v in writes.items()])

    async def delete(self, owner: SecretOwner, env_var: str) -> None:
        path = secret_path(owner, env_var)
        await self.start()
        await self._call(self._destroy, path)

    async def delete_all(self, owner: SecretOwner) -> None:
        prefix = server_prefix(owner)
        await self.start()
        paths = await self._collect(prefix)
        await self._all([self._call(self._destroy, p) for p in paths])

    async def _collect(self, prefix: str) -> list[str]:
        """Every secret path below prefix, descending into sub-folders."""
        paths: list[str] = []
        for key in await self._call(self._list, prefix):
            if key.endswith("/"):
                paths.extend(await self._collect(prefix + key))
            else:
                paths.append(prefix + key)
        return paths

    async def get_many(self, owner: SecretOwner, env_vars: Sequence[str]) -> dict[str, str]:
        names = list(dict.fromkeys(validate_env_var(n) for n in env_vars))
        paths = [secret_path(owner, n) for n in names]
        await self.start()
        held = await self._all([self._call(self._read, p) for p in paths])
        return {n: v.reveal() for n, v in zip(names, held, strict=True) if v is not None}

    async def list_names(self, owner: SecretOwner) -> list[str]:
        prefix = server_prefix(owner)
        await self.start()
        keys = await self._call(self._list, prefix)
        names = [k for k in keys if ENV_VAR_RE.fullmatch(k)]
        live = await self._all([self._call(self._is_live, prefix + n) for n in names])
        return sorted(n for n, ok in zip(names, live, strict=True) if ok)

    async def check(self) -> None:
        """Reachable, unsealed, our token valid, and the KV mount readable."""
        await self.start()
        await self._call(self._lookup_self)
        await self._call(self._probe)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._renew_task is not None:
            self._renew_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renew_task
            self._renew_task = None
        # Off the loop: waits (bounded by the request timeout) for in-flight calls.
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
        self._client.adapter.close()
