"""Liveness and readiness (no auth): `/readyz` checks every backend the gateway uses."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency

from gateway.errors import GatewayError
from gateway.wiring import Runtime


@get("/healthz", tags=["ops"], summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", tags=["ops"], summary="Every backend answers")
async def readyz(runtime: NamedDependency[Runtime]) -> Response[dict[str, Any]]:
    checks = runtime.readiness_checks()

    async def run(name: str, check: Any) -> tuple[str, str]:
        try:
            await asyncio.wait_for(check(), timeout=2.0)
        except (GatewayError, TimeoutError, OSError) as exc:
            return name, f"unavailable: {getattr(exc, 'detail', type(exc).__name__)}"
        return name, "ok"

    results = dict(await asyncio.gather(*(run(n, c) for n, c in checks.items())))
    failing = {name for name, result in results.items() if result != "ok"}
    ready = not (failing - runtime.degradable)
    status = "unavailable" if not ready else ("degraded" if failing else "ready")
    policy = runtime.engine.status()
    return Response(
        {
            "status": status,
            "checks": results,
            "policy_revision": policy.revision,
            "policy": msgspec.structs.asdict(policy),
            # What the decision log's writer has done: written, waiting, dropped, failures.
            "decision_log": msgspec.structs.asdict(runtime.services.audit_writer.snapshot()),
        },
        status_code=200 if ready else 503,
    )
