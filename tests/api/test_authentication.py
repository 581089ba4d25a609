"""Every /v1 route answers 401 with `WWW-Authenticate: Bearer` without a valid token."""

from __future__ import annotations

import re

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.auth.dev_tokens import mint_dev_token
from tests.fixtures.gateway import Caller


def _v1_routes(app: Litestar) -> list[tuple[str, str]]:
    routes = []
    for route in app.routes:
        if not route.path.startswith("/v1"):
            continue
        path = re.sub(r"\{[^}:]+(:[^}]+)?\}", "mcp_0123456789abcdef", route.path)
        for method in sorted(route.methods - {"OPTIONS", "HEAD"}):
            routes.append((method, path))
    return routes


@pytest.mark.parametrize("store_mode", ["memory"], indirect=True)
async def test_every_v1_route_requires_a_token(gateway: AsyncTestClient[Litestar]) -> None:
    routes = _v1_routes(gateway.app)
    assert len(routes) >= 5
    expired = mint_dev_token(
        "test-secret-for-hs256-at-least-32-bytes!",
        sub="alice",
        email="alice@example.com",
        ttl_seconds=-120,
    )
    forged = mint_dev_token(
        "another-secret-another-secret-another!", sub="alice", email="alice@example.com"
    )
    for token in (None, expired, forged, "not.a.jwt"):
        caller = Caller(gateway, token)
        for method, path in routes:
            response = await caller.request(method, path, json={})
            assert response.status_code == 401, (method, path, token, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("store_mode", ["memory"], indirect=True)
async def test_non_bearer_schemes_are_rejected(gateway: AsyncTestClient[Litestar]) -> None:
    response = await gateway.get("/v1/mcp-servers", headers={"Authorization": "Basic YTpi"})
    assert response.status_code == 401


@pytest.mark.parametrize("store_mode", ["memory"], indirect=True)
async def test_ops_endpoints_need_no_token(gateway: AsyncTestClient[Litestar]) -> None:
    assert (await gateway.get("/healthz")).status_code == 200
    assert (await gateway.get("/readyz")).status_code == 200
    assert (await gateway.get("/schema/openapi.json")).status_code == 200


async def test_the_suite_runs_on_the_engine_it_was_asked_for(
    gateway: AsyncTestClient[Litestar], request: pytest.FixtureRequest
) -> None:
    # ./scripts/test runs tests/api twice: on the embedded engine and on a real OPA.
    assert gateway.app.state.runtime.engine.name == request.config.getoption("--engine")
