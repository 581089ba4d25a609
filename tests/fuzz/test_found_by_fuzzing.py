"""What the fuzzing found, pinned as plain tests so it stays fixed whatever the fuzzer draws."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.audit.log import format_timestamp, timestamp_ms
from tests.fixtures.gateway import caller

DECISIONS = "/v1/audit/decisions"


def test_a_timestamp_before_the_year_1000_keeps_four_digits() -> None:
    """strftime's %Y wrote year 685 as `685`: it sorted after `2026` and did not parse back."""
    at = datetime(685, 2, 20, 23, 18, 57, tzinfo=UTC)
    assert format_timestamp(at) == "0685-02-20T23:18:57.000000Z"
    assert timestamp_ms(format_timestamp(at)) == int(at.timestamp() * 1000)
    assert format_timestamp(at) < format_timestamp(datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("store_mode", ["memory", "redis"], indirect=True)
async def test_the_decision_log_takes_any_instant_or_says_422(
    gateway: AsyncTestClient[Litestar],
) -> None:
    """`since=0685-…` was a 500 (ValueError), `until=0685-…` listed today's records (memory)
    or was a 503 (Redis), and an instant whose UTC form leaves years 1-9999 was a 500
    (OverflowError)."""
    ann = caller(gateway, "ann", roles=("auditor",))
    assert (await ann.get("/v1/enterprises")).status_code == 200  # something to find
    since = await ann.get(f"{DECISIONS}?since=0685-02-20T23:18:57Z")
    assert since.status_code == 200, since.text
    assert since.json()["items"]
    # On Redis, any `until` before the first record was a 503 (XREVRANGE "(0-0").
    for instant in ("0685-02-20T23:18:57Z", "2000-01-01T00:00:00Z"):
        until = await ann.get(f"{DECISIONS}?until={instant}")
        assert until.status_code == 200 and until.json()["items"] == [], until.text
    for path in (DECISIONS, f"{DECISIONS}/export"):
        for instant in ("0001-01-01T00:00:00%2B01:00", "9999-12-31T23:59:59-01:00"):
            answer = await ann.get(f"{path}?since={instant}")
            # a well-formed date-time the log cannot hold: 422 (docs/api-contract.md)
            assert answer.status_code == 422, (path, instant, answer.text)
            assert answer.json()["extra"][0]["key"] == "since"
