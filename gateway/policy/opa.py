"""The production engine: a real OPA server, asked through its REST Data API
(`POST /v1/data/<entrypoint>?provenance=true` with `{"input": …}`) by opa-python-client's
pooled async client (aiohttp, keep-alive), with a short timeout and no retries: a slow OPA
costs one timeout, never three.

Fail closed. Connection refused, a timeout, a 4xx or 5xx, or a body that is not JSON is
`BackendUnavailable` (503); a 200 without `result` is UNDEFINED, and a result of the wrong
shape is refused by the Authorizer — both a deny, never an allow.

OPA's `decision_id` becomes the gateway's, so OPA's decision log and the gateway's join.

Which policy OPA runs, looked at every `poll_seconds`:
- fed with the gateway's bundle (docs/policies.md): OPA's status API (`GET /v1/status`,
  on when OPA's config has a `status` section) names the bundle revision it activated — the
  embedded engine's revision for the same files — and the error of a bundle it refused
  (a bad signature, a download that failed), shown in `/readyz` as `last_rejected` and
  counted once per refusal in `gateway_policy_rejected_reloads_total{engine="opa"}`. Each
  decision also carries the revision that answered it (`provenance`), so a bundle activated
  between two looks is still recorded right.
- otherwise (`opa run --watch` on a directory, `gateway policy push`): a hash of what OPA
  serves — its modules (`GET /v1/policies`, raw text) and its whole data tree (`GET /v1/data`,
  which the shipped `system.log.drop` keeps out of OPA's decision log); when OPA reloads, the
  gateway's revision follows within that time and no merged view cached under the old one
  is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgspec
from opa_client.opa_async import AsyncOpaClient

from gateway.errors import BackendUnavailable
from gateway.observability.metrics import count_rejected_reload
from gateway.policy.engine import UNDEFINED, Evaluation, PolicyStatus, Rejection, now_iso

log = logging.getLogger(__name__)

_decode = msgspec.json.Decoder().decode
UNKNOWN_REVISION = "unknown"
BUNDLE = "gateway"  # the bundle's name in OPA's config (`bundles.gateway`)
_PROVENANCE = {"provenance": "true"}
STATUS_RETRY_SECONDS = 30.0  # how long an OPA without a status plugin is not asked again


def opa_client(url: str, timeout: float) -> AsyncOpaClient:
    """A client for `url` (`http(s)://host:port`), without retries."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an OPA URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return AsyncOpaClient(
        host=parts.hostname, port=port, ssl=parts.scheme == "https", timeout=timeout, retries=0
    )


def _why(exc: BaseException) -> str:
    """A short cause for the 503 (never OPA's address)."""
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"answered HTTP {exc.status}"
    if isinstance(exc, aiohttp.ClientConnectionError):
        return "connection failed"
    if isinstance(exc, ValueError | aiohttp.ContentTypeError):
        return "answered something that is not JSON"
    return f"failed ({type(exc).__name__})"


def _answered_by(provenance: Any) -> str | None:
    """The gateway bundle's revision in a decision's provenance (None when OPA serves no
    bundle of that name: the polled digest names the revision then)."""
    bundles = provenance.get("bundles") if isinstance(provenance, dict) else None
    entry = bundles.get(BUNDLE) if isinstance(bundles, dict) else None
    revision = entry.get("revision") if isinstance(entry, dict) else None
    return revision if isinstance(revision, str) and revision else None


class OPAEngine:
    name = "opa"

    def __init__(self, url: str, *, timeout_seconds: float = 0.5, poll_seconds: float = 1.0):
        self._client = opa_client(url, timeout_seconds)
        self._timeout = timeout_seconds
        self._poll = poll_seconds
        self._revision = UNKNOWN_REVISION
        self._loaded_at = now_iso()
        self._rejected: Rejection | None = None
        self._status_off_until = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def revision(self) -> str:
        return self._revision

    @property
    def memoizable(self) -> bool:
        """Never: between two looks the gateway knows neither OPA's revision for sure nor
        that OPA is up, and a remembered answer must not hide an OPA that is down (503)."""
        return False

    def status(self) -> PolicyStatus:
        return PolicyStatus(
            revision=self._revision, loaded_at=self._loaded_at, last_rejected=self._rejected
        )

    async def open(self) -> None:
        """Open the connection pool and learn the revision (an OPA that is down now is a
        not-ready gateway, not a startup failure: it may come up later)."""
        await self._client._init_session()
        try:
            await self.reload()
        except BackendUnavailable as exc:
            log.warning("OPA is not answering yet (%s); decisions fail closed until it does", exc)

    def start(self) -> None:
        if self._task is None and self._poll > 0:
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="opa-watch")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._poll)
            try:
                await self.reload()
            except BackendUnavailable as exc:
                log.debug("OPA revision not read: %s", exc.detail)

    async def reload(self) -> bool:
        """Read what OPA runs now; True when it changed."""
        bundle = await self._bundle_status()
        revision = (bundle or {}).get("active_revision") or await self._served_digest()
        if bundle is not None:
            self._note_refusal(bundle)
        if revision == self._revision:
            return False
        log.info("OPA serves policy revision %s (was %s)", revision, self._revision)
        self._revision, self._loaded_at = revision, now_iso()
        return True

    async def _bundle_status(self) -> dict[str, Any] | None:
        """The gateway bundle's entry in OPA's status; None when OPA is not fed bundles (its
        status plugin is off: a 500) or has no bundle of that name."""
        if time.monotonic() < self._status_off_until:
            return None
        try:
            status = await self._get("/status")
        except BackendUnavailable:
            await self._get("/policies")  # OPA itself down: say so, not "no status plugin"
            # Up, without a status plugin (a 500 in OPA's log each time): look again later.
            self._status_off_until = time.monotonic() + STATUS_RETRY_SECONDS
            return None
        bundles = (status.get("result") or {}).get("bundles") or {}
        entry = bundles.get(BUNDLE) if isinstance(bundles, dict) else None
        return entry if isinstance(entry, dict) else None

    def _note_refusal(self, bundle: dict[str, Any]) -> None:
        """OPA's error for the last bundle it tried (`code`, `message`, `errors`), kept as
        `last_rejected` until a bundle activates after it; counted once per refusal."""
        code = bundle.get("code")
        if not code:
            self._rejected = None
            return
        errors = [str(e) for e in bundle.get("errors") or []]
        error = "; ".join([f"{code}: {bundle.get('message') or ''}".strip(), *errors])
        if self._rejected is None or self._rejected.error != error:
            count_rejected_reload("opa")
            log.error("OPA refused the policy bundle: %s", error)
        at = bundle.get("last_request") or now_iso()
        self._rejected = Rejection(error=error, at=str(at))

    async def _served_digest(self) -> str:
        policies = await self._get("/policies")
        data = await self._get("/data")
        digest = hashlib.sha256()
        modules = sorted(
            (m.get("id", ""), m.get("raw", ""))
            for m in (policies.get("result") or [])
            if isinstance(m, dict)
        )
        digest.update(msgspec.json.encode(modules))
        digest.update(msgspec.json.encode(data.get("result")))
        return digest.hexdigest()[:16]

    async def _get(self, path: str) -> dict[str, Any]:
        session = self._session()
        try:
            async with session.get(f"{self._client.root_url}{path}") as response:
                response.raise_for_status()
                body = _decode(await response.read())
        except (TimeoutError, aiohttp.ClientError, msgspec.DecodeError) as exc:
            raise BackendUnavailable(f"policy engine (OPA) {_why(exc)}") from exc
        if not isinstance(body, dict):
            raise BackendUnavailable("policy engine (OPA) answered something that is not JSON")
        return body

    def _session(self) -> aiohttp.ClientSession:
        session: aiohttp.ClientSession | None = self._client._session
        if session is None:
            raise BackendUnavailable("policy engine (OPA) client is not open")
        return session

    async def evaluate(self, entrypoint: str, input_json: bytes) -> Evaluation:
        try:
            answer = await self._client.query_rule(
                _decode(input_json), entrypoint, query_params=_PROVENANCE
            )
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise BackendUnavailable(f"policy engine (OPA) {_why(exc)}") from exc
        if not isinstance(answer, dict):
            raise BackendUnavailable("policy engine (OPA) answered something that is not JSON")
        decision_id = answer.get("decision_id")
        result = answer.get("result", UNDEFINED)
        return Evaluation(
            result,
            decision_id if isinstance(decision_id, str) else None,
            _answered_by(answer.get("provenance")),
        )

    async def check(self) -> None:
        # `?bundles`: an OPA configured with bundles is ready once each is activated (until
        # then every decision is undefined: a deny); one without bundles is ready when up.
        if not await self._client.check_health({"bundles": True}):
            raise BackendUnavailable(
                "policy engine (OPA) is not healthy, or has not activated its policy bundle"
            )

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._client.close_connection()
