"""Issue 21, "Done when": any replica answers any MCP request. Two gateway processes on one
throwaway Redis (the same JWT secret, private upstreams allowed) behind HAProxy
(tests/fixtures/haproxy.py: roundrobin, one request per server connection), so a client's
consecutive requests go to A, B, A, B, … . alice adds a personal HTTP server (an
upstream_server.py) through /v1; then each client does 10 rounds of list+call tools,
list+read resources, list+get prompts through HAProxy: the Python SDK 2.x negotiating freely
(2026-07-28) and forced to the 2025 handshake (2025-11-25), the older handshakes (2025-03-26,
2025-06-18), and the TypeScript SDK v1 and v2. Each with no failure, in strict rotation over
the replicas, and seeing the upstream's items under names and URIs namespaced by the server.
Prints per client the rounds, the requests and the requests per replica.

The harness itself is proven on plain upstreams by test_haproxy_fixture.py."""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.fixtures.haproxy import Balancer, assert_strict_rotation, dispatch_order, haproxy
from tests.fixtures.redis_server import start_redis_server, stop_process
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

# Any replica answering any request is the protocol's and the stores' doing, not the
# engine's: the OPA pass skips it (tests/conftest.py).
pytestmark = pytest.mark.engine_independent


def _why_not_yet() -> str | None:
    """THE one reason this module is skipped: the gateway's /mcp is still the SDK 1.x
    session endpoint, whose package does not even import under the mcp 2.x this branch pins.
    The rewrite onto mcp 2.x (stateless, issue 21) makes `gateway.mcp_proxy` import again,
    and from then on this test runs (and must pass)."""
    try:
        importlib.import_module("gateway.mcp_proxy")
    except ImportError as error:
        return (
            "issue 21: the gateway's /mcp is not yet rewritten onto mcp 2.x as a stateless "
            f"endpoint (gateway.mcp_proxy does not import: {error})"
        )
    return None


if (_reason := _why_not_yet()) is not None:
    pytest.skip(_reason, allow_module_level=True)


BACKENDS = ("A", "B")
ROUNDS = 10
SERVER = "files"  # the server's name in alice's view, and the upstream's
TOOLS = ("read_file", "delete_file", "echo_headers", "big_answer")
PROMPTS = ("greet", "review")
RESOURCE = f"memo://{SERVER}/hello"
PLAN = plan(rounds=ROUNDS, resource=RESOURCE)
SUMMARY: list[str] = []


@dataclass
class Replicated:
    balancer: Balancer
    upstream: Upstream
    token: str  # alice's

    @property
    def url(self) -> str:
        return self.balancer.url("/mcp")


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicated]:
    from tests.fixtures.gateway import token_for
    from tests.fixtures.live_gateway import live_gateway

    workdir = tmp_path_factory.mktemp("replicas")
    for name in ("redis", "a", "b"):
        (workdir / name).mkdir()
    redis_proc, redis_port = start_redis_server(workdir / "redis")
    env = {
        "GATEWAY_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "GATEWAY_ALLOW_PRIVATE_UPSTREAMS": "true",
        "GATEWAY_RATE_LIMIT_REQUESTS": "100000",
    }
    try:
        with (
            running(workdir / "upstream", SERVER) as [upstream],
            live_gateway(workdir / "a", **env) as first,
            live_gateway(workdir / "b", **env) as second,
        ):
            backends = {
                name: gateway.base_url.removeprefix("http://")
                for name, gateway in zip(BACKENDS, (first, second), strict=True)
            }
            with haproxy(workdir / "haproxy", backends) as balancer:
                token = token_for("alice")
                created = httpx.post(
                    balancer.url("/v1/mcp-servers"),
                    json={"name": SERVER, "transport": "streamable_http", "url": upstream.url},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=10,
                )
                assert created.status_code == 201, created.text
                yield Replicated(balancer, upstream, token)
                print("\n" + "\n".join(SUMMARY))
    finally:
        stop_process(redis_proc)


def _namespaced(listed: list[str] | None, originals: tuple[str, ...]) -> None:
    """Each original item is listed exactly once, under a name that ends with its own but is
    not it (the server's prefix), and nothing else is listed."""
    assert listed is not None
    for original in originals:
        matches = [name for name in listed if name.endswith(original)]
        assert len(matches) == 1, (original, listed)
        assert matches[0] != original, f"{original} is not namespaced by the server: {listed}"
    assert len(listed) == len(originals), listed


def check(replicated: Replicated, report: RoundsReport) -> None:
    assert report.errors == [], report.errors
    assert len(report.rounds) == ROUNDS
    for seen in report.rounds:
        _namespaced(seen["tools"], TOOLS)
        assert seen["call"] == f"{SERVER} read /tmp/x"
        _namespaced(seen["resources"], (RESOURCE,))
        assert seen["read"] == f"hello from {SERVER}"
        _namespaced(seen["prompts"], PROMPTS)
        assert seen["prompt"] == f"{SERVER} says hello to Ann"

    sequence = assert_strict_rotation(report.exchanges, BACKENDS)
    seqs = [seq for seq, _ in dispatch_order(report.exchanges)]
    assert replicated.balancer.logged_backends(seqs) == sequence
    # The client's own token never travels upstream.
    upstream_saw = {r["authorization"] for r in replicated.upstream.requests()}
    assert f"Bearer {replicated.token}" not in upstream_saw

    per_replica = dict(sorted(Counter(sequence).items()))
    line = (
        f"{report.client}: protocol {report.protocol_version}, {len(report.rounds)} rounds, "
        f"{len(sequence)} requests, per replica {per_replica}"
    )
    SUMMARY.append(line)
    print(line)


@pytest.mark.parametrize(("mode", "version"), [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
async def test_the_python_client_through_alternating_replicas(
    replicated: Replicated, mode: str, version: str
) -> None:
    log = ResponseLog()
    async with mcp_client(replicated.url, replicated.token, mode, log=log) as client:
        report = await run_rounds(f"python {mode}", client, PLAN, log)
    assert report.protocol_version == version
    check(replicated, report)


@pytest.mark.parametrize("version", ["2025-03-26", "2025-06-18"])
async def test_an_older_handshake_through_alternating_replicas(
    replicated: Replicated, version: str
) -> None:
    log = ResponseLog()
    async with handshake_client(replicated.url, replicated.token, version, log=log) as session:
        report = await run_rounds(f"python handshake {version}", session, PLAN, log)
    assert report.protocol_version == version
    check(replicated, report)


TS_CLIENTS: list[tuple[dict[str, Any], str]] = [
    ({"sdk": "v1"}, "2025-11-25"),
    ({"sdk": "v2", "negotiation": "auto"}, "2026-07-28"),
    ({"sdk": "v2", "negotiation": "legacy"}, "2025-11-25"),
]


@pytest.mark.parametrize(("how", "version"), TS_CLIENTS, ids=lambda v: str(v))
async def test_the_typescript_clients_through_alternating_replicas(
    replicated: Replicated, how: dict[str, Any], version: str
) -> None:
    sdk = ts_sdk_dir()
    if sdk is None:
        pytest.skip("no Node.js here for the TypeScript MCP clients")
    seen = await run_ts_client(sdk, replicated.url, replicated.token, {**PLAN, **how})
    report = RoundsReport.from_ts(f"ts {how['sdk']} {how.get('negotiation', 'legacy')}", seen)
    assert report.protocol_version == version
    check(replicated, report)
