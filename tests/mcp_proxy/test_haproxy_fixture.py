"""The replica test's harness, proven on plain upstreams: two processes of upstream_server.py
(stateless) behind the throwaway HAProxy (tests/fixtures/haproxy.py). Every client — the
Python SDK 2.x negotiating freely and forced to the 2025 handshake, the older handshakes, the
TypeScript SDK v1 and v2 — does 10 rounds of list+call tools, list+read resources, list+get
prompts with no failure, and its consecutive requests go to A, B, A, B, …: HAProxy's
headers, its log and what each upstream recorded all agree."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fixtures.haproxy import Balancer, assert_strict_rotation, dispatch_order, haproxy
from tests.mcp_proxy.client import (
    ResponseLog,
    RoundsReport,
    handshake_client,
    mcp_client,
    plan,
    run_rounds,
    run_ts_client,
    ts_sdk_dir,
)
from tests.mcp_proxy.upstream_server import Upstream, running

BACKENDS = ("A", "B")
ROUNDS = 10
TOKEN = "token-of-the-test-client"
PLAN = plan(rounds=ROUNDS, resource="memo://files/hello")


@dataclass
class Pair:
    balancer: Balancer
    replicas: dict[str, Upstream]  # backend name -> process


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Two processes of `files` (lists paged 2 at a time, so a cursor one replica handed out
    is followed on the other) behind HAProxy as A and B."""
    workdir = tmp_path_factory.mktemp("balanced")
    with running(workdir, "files", processes=2, page_size=2) as upstreams:
        replicas = dict(zip(BACKENDS, upstreams, strict=True))
        backends = {name: upstream.address for name, upstream in replicas.items()}
        with haproxy(workdir / "haproxy", backends) as balancer:
            yield Pair(balancer, replicas)


def check(pair: Pair, report: RoundsReport, before: dict[str, int]) -> list[str]:
    """No failure, the upstream's answers in every round, strict rotation, and HAProxy's log
    and the upstreams' own records agree with the headers. Prints the counts."""
    assert report.errors == []
    assert len(report.rounds) == ROUNDS
    for seen in report.rounds:
        assert seen["tools"] == ["read_file", "delete_file", "echo_headers", "big_answer"]
        assert seen["call"] == "files read /tmp/x"
        assert seen["resources"] == ["memo://files/hello"]
        assert seen["read"] == "hello from files"
        assert seen["prompts"] == ["greet", "review"]
        assert seen["prompt"] == "files says hello to Ann"

    sequence = assert_strict_rotation(report.exchanges, BACKENDS)
    order = dispatch_order(report.exchanges)
    # HAProxy's own log says the same.
    assert pair.balancer.logged_backends([seq for seq, _ in order]) == sequence
    # And each upstream received exactly the requests said to be its own.
    per_replica = Counter(sequence)
    for name, upstream in pair.replicas.items():
        received = upstream.requests()[before[name] :]
        assert len(received) == per_replica[name]
        assert {r["authorization"] for r in received} <= {f"Bearer {TOKEN}"}
    print(
        f"{report.client}: protocol {report.protocol_version}, {len(report.rounds)} rounds, "
        f"{len(sequence)} requests, per replica {dict(sorted(per_replica.items()))}, "
        f"served {''.join(sequence)}"
    )
    return sequence


def counts(pair: Pair) -> dict[str, int]:
    return {name: len(upstream.requests()) for name, upstream in pair.replicas.items()}


@pytest.mark.parametrize(("mode", "version"), [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
async def test_the_python_client_rotates_over_both_replicas(
    pair: Pair, mode: str, version: str
) -> None:
    before = counts(pair)
    log = ResponseLog()
    async with mcp_client(pair.balancer.url(), TOKEN, mode, log=log) as client:
        report = await run_rounds(f"python {mode}", client, PLAN, log)
    assert report.protocol_version == version
    sequence = check(pair, report, before)
    assert len(sequence) >= ROUNDS * 7  # 2 pages of tools, 5 more requests, each round


@pytest.mark.parametrize("version", ["2025-03-26", "2025-06-18"])
async def test_an_older_handshake_rotates_over_both_replicas(pair: Pair, version: str) -> None:
    before = counts(pair)
    log = ResponseLog()
    async with handshake_client(pair.balancer.url(), TOKEN, version, log=log) as session:
        report = await run_rounds(f"python handshake {version}", session, PLAN, log)
    assert report.protocol_version == version
    check(pair, report, before)


TS_CLIENTS: list[tuple[dict[str, Any], str]] = [
    ({"sdk": "v1"}, "2025-11-25"),
    ({"sdk": "v2", "negotiation": "auto"}, "2026-07-28"),
    ({"sdk": "v2", "negotiation": "legacy"}, "2025-11-25"),
    ({"sdk": "v2", "negotiation": "legacy", "protocolVersions": ["2025-06-18"]}, "2025-06-18"),
]


@pytest.mark.parametrize(("how", "version"), TS_CLIENTS, ids=lambda v: str(v))
async def test_the_typescript_clients_rotate_over_both_replicas(
    pair: Pair, how: dict[str, Any], version: str
) -> None:
    sdk = ts_sdk_dir()
    if sdk is None:
        pytest.skip("no Node.js here for the TypeScript MCP clients")
    before = counts(pair)
    seen = await run_ts_client(sdk, pair.balancer.url(), TOKEN, {**PLAN, **how})
    name = f"ts {how['sdk']} {how.get('negotiation', 'legacy')} {how.get('protocolVersions', '')}"
    report = RoundsReport.from_ts(name, seen)
    assert report.protocol_version == version
    assert seen["era"] == ("modern" if version == "2026-07-28" else "legacy")
    check(pair, report, before)


def test_the_rotation_check_catches_a_repeat() -> None:
    """assert_strict_rotation fails on two requests in a row to one backend, and on a gap."""

    @dataclass
    class Seen:
        headers: dict[str, str]

    def seen(*pairs: tuple[int, str]) -> list[Seen]:
        return [Seen({"X-LB-Seq": str(seq), "X-Served-By": name}) for seq, name in pairs]

    assert assert_strict_rotation(seen((3, "B"), (1, "B"), (2, "A")), BACKENDS) == ["B", "A", "B"]
    with pytest.raises(AssertionError, match="went to"):
        assert_strict_rotation(seen((1, "A"), (2, "B"), (3, "B")), BACKENDS)
    with pytest.raises(AssertionError, match="not consecutive"):
        assert_strict_rotation(seen((1, "A"), (2, "B"), (4, "A")), BACKENDS)
