"""Per-subject rate limiting: beyond GATEWAY_RATE_LIMIT_REQUESTS in a window a subject gets
429 with Retry-After; other subjects are unaffected; replicas on one Redis share the count;
only verified tokens are counted."""

from __future__ import annotations

import msgspec
import pytest

from gateway.config import Settings
from tests.fixtures.gateway import AppFactory, Caller, caller


def _limited(settings: Settings, limit: int = 5) -> Settings:
    # A long window: the test's requests all fall in one (or, at a boundary, two) windows.
    return msgspec.structs.replace(
        settings, rate_limit_requests=limit, rate_limit_window_seconds=3600
    )


async def _spend(who: Caller, n: int) -> list[int]:
    return [(await who.get("/v1/mcp-servers")).status_code for _ in range(n)]


async def test_beyond_the_limit_a_subject_gets_429_with_retry_after(
    gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    client = await start_gateway(_limited(gateway_settings))
    alice, bob = caller(client, "alice"), caller(client, "bob")
    statuses = await _spend(alice, 12)
    # Five in the window (ten if the hour turned during the test), then refused.
    assert statuses.count(200) in (5, 10) and statuses[:5] == [200] * 5
    assert statuses[-1] == 429
    refused = await alice.get("/v1/mcp-servers")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert refused.json()["detail"].startswith("rate limit:")
    # Bob has his own budget.
    assert await _spend(bob, 3) == [200, 200, 200]


async def test_unverified_requests_spend_nobody_s_budget(
    gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    client = await start_gateway(_limited(gateway_settings, limit=3))
    forged = Caller(client, "not-a-token", "alice")
    assert {(await forged.get("/v1/mcp-servers")).status_code for _ in range(10)} == {401}
    assert await _spend(caller(client, "alice"), 3) == [200, 200, 200]


async def test_replicas_on_one_redis_share_the_count(
    gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    if gateway_settings.redis_url is None:
        pytest.skip("memory stores are one process: nothing to share")
    settings = _limited(gateway_settings, limit=4)
    first, second = await start_gateway(settings), await start_gateway(settings)
    statuses = await _spend(caller(first, "alice"), 2) + await _spend(caller(second, "alice"), 4)
    assert statuses[:4] == [200] * 4 and statuses[-1] == 429


async def test_zero_turns_it_off(gateway_settings: Settings, start_gateway: AppFactory) -> None:
    client = await start_gateway(_limited(gateway_settings, limit=0))
    assert set(await _spend(caller(client, "alice"), 20)) == {200}
