"""Vault/OpenBao adapter of the secrets port: KV v2 through ``hvac``.

hvac is blocking, so every call runs on a small dedicated thread pool (never on the event
loop, never on the loop's shared default executor) with a client-side request timeout.
The pool's queue is bounded (``max_pending`` calls queued or running): while Vault hangs,
calls beyond it are refused at once instead of piling up behind the stuck ones, and a call
still queued when its deadline passes is dropped. Failures of any kind surface as
``BackendUnavailable`` with a short, value-free reason.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import hvac
import hvac.exceptions
import requests

from gateway.config import ConfigError, Settings
from gateway.domain.ids import ENV_VAR, matches
from gateway.errors import BackendUnavailable, InvalidInput
from gateway.secrets.base import (
    ENTERPRISE_SEGMENT,
    ROOT,
    VALUE_KEY,
    SecretOwner,
    SecretValue,
    validate_env_var,
    validate_values,
)
from gateway.secrets.vault_token import DEFAULT_RENEW_FRACTION, VaultToken

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT = 5.0
MAX_WORKERS = 8
# Calls queued or running per process. A healthy Vault answers in milliseconds, so this is
# only reached when it hangs: then each call holds a worker for the whole timeout.
MAX_PENDING = 64
# Never a secret (enterprise ids start with `ent_`): readiness reads its metadata to prove
# the KV v2 mount exists and the token may read the tree; a 404 is the healthy answer.
_PROBE_PATH = f"{ROOT}/{ENTERPRISE_SEGMENT}/.readiness-probe"
# Deletion marks, one per server id, beside the probe (no enterprise id starts with `.`):
# inside the tree the gateway's Vault policy already grants, never read as a secret.
_MARKS = f"{ROOT}/{ENTERPRISE_SEGMENT}/.deleting/"


class _Closed(Exception):
    """The store was closed; no more calls are scheduled."""


class _Busy(Exception):
    """``max_pending`` calls are queued or running already (Vault slow or hung)."""


class _Stuck(Exception):
    """The call did not finish by its deadline (queued behind hung calls)."""


def _reason(exc: BaseException) -> str:
    """A short cause for the 503 detail, from the exception type only (never its payload)."""
    if isinstance(exc, _Closed):
        return "store closed"
    if isinstance(exc, _Busy):
        return "too many calls waiting (slow or hung)"
    if isinstance(exc, _Stuck):
        return "timeout (queued behind slow calls)"
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

    Authentication happens on first use (or ``start()``); keeping the token alive is
    ``VaultToken``'s job (gateway/secrets/vault_token.py).
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
        max_pending: int = MAX_PENDING,
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
        if max_pending < 1:
            raise ConfigError(f"GATEWAY_VAULT_MAX_PENDING must be at least 1, not {max_pending}")
        if not 0 < renew_fraction < 1:
            raise ConfigError(f"renew_fraction must be in (0, 1), not {renew_fraction}")
        self._addr = addr
        self._mount = mount.strip("/")
        if not self._mount:
            raise ConfigError("GATEWAY_VAULT_MOUNT is empty")
        approle = (
            (role_id, SecretValue(secret_id))
            if role_id is not None and secret_id is not None
            else None
        )
        # AppRole starts without a token: an empty string keeps hvac from reading
        # VAULT_TOKEN or ~/.vault-token behind our back.
        self._client = hvac.Client(
            url=addr, token=token if approle is None else "", timeout=timeout
        )
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="vault")
        # Released by the call's future when it is done, on whatever thread that happens.
        self._slots = threading.BoundedSemaphore(max_pending)
        # hvac's timeout bounds connect and read each; a call may also wait its turn.
        self._deadline = 2 * timeout + 1
        self._ready = False
        self._ready_lock = asyncio.Lock()
        self._closed = False
        self.token = VaultToken(
            self._client,
            self._call,
            approle=approle,
            approle_mount=approle_mount,
            renew_fraction=renew_fraction,
        )

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
            max_pending=settings.vault_max_pending,
        )

    @property
    def renewals(self) -> int:
        return self.token.renewals

    @property
    def logins(self) -> int:
        return self.token.logins

    def __repr__(self) -> str:
        auth = "approle" if self.token.approle else "token"
        return f"VaultSecretStore(addr={self._addr!r}, mount={self._mount!r}, auth={auth!r})"

    # -- plumbing ---------------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run one blocking hvac call on the pool, translating every failure to a 503. At most
        ``max_pending`` calls are queued or running: beyond, a 503 at once."""
        try:
            if self._closed:
                raise _Closed
            if not self._slots.acquire(blocking=False):
                raise _Busy
            try:
                done: Future[T] = self._pool.submit(functools.partial(fn, *args, **kwargs))
            except RuntimeError as exc:  # the pool was shut down under us
                self._slots.release()
                if self._closed:
                    raise _Closed from exc
                raise
            # The slot is freed when the thread is, not when we stop waiting for it.
            done.add_done_callback(lambda _: self._slots.release())
            try:
                async with asyncio.timeout(self._deadline):
                    return await asyncio.wrap_future(done)
            except TimeoutError as exc:
                done.cancel()  # still queued: never runs; running: ends at hvac's timeout
                raise _Stuck from exc
        except (
            hvac.exceptions.VaultError,
            requests.exceptions.RequestException,
            _Closed,
            _Busy,
            _Stuck,
        ) as exc:
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
            await self.token.start()
            self._ready = True

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

    def _write_mark(self, owner: SecretOwner) -> None:
        self._client.secrets.kv.v2.create_or_update_secret(
            path=_MARKS + owner.server_id,
            secret={
                "kind": owner.kind,
                "owner_id": owner.owner_id,
                "server_id": owner.server_id,
                "marked_at_ms": str(time.time_ns() // 1_000_000),
            },
            mount_point=self._mount,
        )

    def _read_mark(self, server_id: str) -> tuple[SecretOwner, float] | None:
        try:
            response = self._client.secrets.kv.v2.read_secret_version(
                path=_MARKS + server_id, mount_point=self._mount, raise_on_deleted_version=True
            )
        except hvac.exceptions.InvalidPath as exc:
            if _is_missing(exc):
                return None  # unmarked meanwhile
            raise
        data: dict[str, Any] = (response.get("data") or {}).get("data") or {}
        try:
            owner = SecretOwner(kind=data["kind"], owner_id=data["owner_id"], server_id=server_id)
            return owner, int(data["marked_at_ms"]) / 1000
        except (InvalidInput, KeyError, TypeError, ValueError):
            log.warning("vault deletion mark %s is malformed; ignored", server_id)
            return None

    # -- SecretStore --------------------------------------------------------------------

    async def put_many(self, owner: SecretOwner, values: Mapping[str, str]) -> None:
        validate_values(values)  # all names first: nothing is written if one is bad
        writes = {owner.secret_path(name): SecretValue(v) for name, v in values.items()}
        await self.start()
        await self._all([self._call(self._write, p, v) for p, v in writes.items()])

    async def delete(self, owner: SecretOwner, env_var: str) -> None:
        path = owner.secret_path(env_var)
        await self.start()
        await self._call(self._destroy, path)

    async def delete_all(self, owner: SecretOwner) -> None:
        prefix = owner.server_prefix()
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
        paths = [owner.secret_path(n) for n in names]
        await self.start()
        held = await self._all([self._call(self._read, p) for p in paths])
        return {n: v.reveal() for n, v in zip(names, held, strict=True) if v is not None}

    async def list_names(self, owner: SecretOwner) -> list[str]:
        prefix = owner.server_prefix()
        await self.start()
        keys = await self._call(self._list, prefix)
        names = [k for k in keys if matches(ENV_VAR, k)]
        live = await self._all([self._call(self._is_live, prefix + n) for n in names])
        return sorted(n for n, ok in zip(names, live, strict=True) if ok)

    async def mark_for_deletion(self, owner: SecretOwner) -> None:
        await self.start()
        await self._call(self._write_mark, owner)

    async def marked_for_deletion(self, older_than_seconds: float) -> list[SecretOwner]:
        await self.start()
        ids = [k for k in await self._call(self._list, _MARKS) if not k.endswith("/")]
        marks = await self._all([self._call(self._read_mark, i) for i in ids])
        cutoff = time.time() - older_than_seconds
        return [m[0] for m in marks if m is not None and m[1] <= cutoff]

    async def unmark(self, owner: SecretOwner) -> None:
        await self.start()
        await self._call(self._destroy, _MARKS + owner.server_id)

    async def check(self) -> None:
        """Reachable, unsealed, our token valid, and the KV mount readable."""
        await self.start()
        await self._call(self.token.lookup_self)
        await self._call(self._probe)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.token.stop()
        # Off the loop: waits (bounded by the request timeout) for in-flight calls.
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
        self._client.adapter.close()
