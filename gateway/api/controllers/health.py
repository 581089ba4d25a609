"""Liveness and readiness (no auth): `/readyz` checks every backend the gateway uses.

Readiness is computed at most once a second per process, and concurrent probes share the
computation in flight: `/readyz` is unauthenticated, so a burst of anonymous calls must not
become a burst of backend checks (150 of them used to exhaust the Redis pool and make
readiness fail)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgspec
from litestar import Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec

from gateway.api.openapi.answers import public
from gateway.errors import GatewayError
from gateway.services.policy_status import bundle_served
from gateway.wiring import Runtime

READINESS_TTL_SECONDS = 1.0
# What each check asks, named for people when a failure came untranslated.
_BACKENDS = {"policy_engine": "policy engine", "stores": "redis", "secrets": "vault"}

log = logging.getLogger(__name__)


@get("/healthz", tags=["ops"], summary="The process is up", **public())
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


class _Readiness:
    """The last answer, and when it was computed; one computation at a time."""

    def __init__(self) -> None:
        self.answer: tuple[dict[str, Any], bool] | None = None
        self.at = -READINESS_TTL_SECONDS
        self.lock = asyncio.Lock()


async def _check_all(runtime: Runtime) -> tuple[dict[str, Any], bool]:
    checks = runtime.readiness_checks()

    async def run(name: str, check: Any) -> tuple[str, str]:
        try:
            await asyncio.wait_for(check(), timeout=2.0)
        except GatewayError as exc:
            # The detail names the backend (checks translate their failures); where it
            # lives goes to the log only: /readyz answers anyone.
            cause = exc.__cause__
            log.warning(
                "readiness check %s failed: %s (%s: %s)",
                name,
                exc.detail,
                type(cause).__name__,
                cause,
            )
            return name, f"unavailable: {exc.detail}"
        except Exception as exc:  # an untranslated failure: its text may hold an address
            log.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
            return name, f"unavailable: {_BACKENDS.get(name, name)} ({type(exc).__name__})"
        return name, "ok"

    results = dict(await asyncio.gather(*(run(n, c) for n, c in checks.items())))
    failing = {name for name, result in results.items() if result != "ok"}
    ready = not (failing - runtime.degradable)
    status = "unavailable" if not ready else ("degraded" if failing else "ready")
    return {"status": status, "checks": results}, ready


@get(
    "/readyz",
    tags=["ops"],
    summary="Every backend answers",
    **public(
        {
            503: ResponseSpec(
                dict[str, Any],
                description="Not ready: `checks` says which",
                generate_examples=False,
            )
        }
    ),
)
async def readyz(runtime: NamedDependency[Runtime], state: State) -> Response[dict[str, Any]]:
    readiness: _Readiness = state.setdefault("readiness", _Readiness())
    if time.monotonic() - readiness.at >= READINESS_TTL_SECONDS:
        async with readiness.lock:
            if time.monotonic() - readiness.at >= READINESS_TTL_SECONDS:  # not done meanwhile
                readiness.answer = await _check_all(runtime)
                readiness.at = time.monotonic()
    assert readiness.answer is not None
    body, ready = readiness.answer
    admission = state.get("admission")
    # In-process and free to read: never a second stale after a policy reload.
    policy = runtime.engine.status()
    return Response(
        {
            **body,
            "policy_revision": policy.revision,
            "policy": msgspec.structs.asdict(policy),
            # The bundle served to OPA (GATEWAY_BUNDLE_TOKEN), and a change it refused to pack.
            "policy_bundle": msgspec.to_builtins(bundle_served(runtime.bundles)),
            # What the decision log's writer has done: written, waiting, dropped, failures.
            "decision_log": msgspec.structs.asdict(runtime.services.audit_writer.snapshot()),
            # Stdio servers hosted in sandboxes, or off and why (a startup probe).
            "stdio_hosting": msgspec.structs.asdict(runtime.hosting),
            # Requests in flight now, the limit, and how many were refused with a 503.
            "admission": msgspec.structs.asdict(admission) if admission is not None else None,
        },
        status_code=200 if ready else 503,
    )
