"""The production engine: a real OPA server, asked through its REST Data API
(`POST /v1/data/<entrypoint>` with `{"input": …}`) by opa-python-client's pooled async client
(aiohttp, keep-alive), with a short timeout and no retries: a slow OPA costs one timeout,
never three.

Fail closed. Connection refused, a timeout, a 4xx or 5xx, or a body that is not JSON is
`BackendUnavailable` (503); a 200 without `result` is UNDEFINED, and a result of the wrong
shape is refused by the Authorizer — both a deny, never an allow.

OPA's `decision_id` becomes the gateway's, so OPA's decision log and the gateway's join.
The revision is a hash of what OPA serves — its modules (`GET /v1/policies`, raw text) and
its whole data tree (`GET /v1/data`, which the shipped `system.log.drop` keeps out of OPA's
decision log) — looked at every `poll_seconds`: when OPA reloads a changed directory
(`opa run --watch`, or `gateway policy push`), the gateway's revision follows within that
time and no merged view cached under the old one is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgspec
from opa_client.opa_async import AsyncOpaClient

from gateway.errors import BackendUnavailable
from gateway.policy.engine import UNDEFINED, Evaluation, PolicyStatus, now_iso

log = logging.getLogger(__name__)

_decode = msgspec.json.Decoder().decode
UNKNOWN_REVISION = "unknown"


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


class OPAEngine:
    name = "opa"

    def __init__(self, url: str, *, timeout_seconds: float = 0.5, poll_seconds: float = 1.0):
        self._client = opa_client(url, timeout_seconds)
        self._timeout = timeout_seconds
        self._poll = poll_seconds
        self._revision = UNKNOWN_REVISION
        self._loaded_at = now_iso()
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
        return PolicyStatus(revision=self._revision, loaded_at=self._loaded_at)

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
        """Read what OPA serves now; True when it changed."""
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
        revision = digest.hexdigest()[:16]
        if revision == self._revision:
            return False
        log.info("OPA serves policy revision %s (was %s)", revision, self._revision)
        self._revision, self._loaded_at = revision, now_iso()
        return True

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
            answer = await self._client.query_rule(_decode(input_json), entrypoint)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise BackendUnavailable(f"policy engine (OPA) {_why(exc)}") from exc
        if not isinstance(answer, dict):
            raise BackendUnavailable("policy engine (OPA) answered something that is not JSON")
        decision_id = answer.get("decision_id")
        result = answer.get("result", UNDEFINED)
        return Evaluation(result, decision_id if isinstance(decision_id, str) else None)

    async def check(self) -> None:
        if not await self._client.check_health():
            raise BackendUnavailable("policy engine (OPA) is not healthy")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._client.close_connection()
