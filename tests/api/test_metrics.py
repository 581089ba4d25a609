"""/metrics (issue 13): who may read it, and that each counter moves with what it counts:
requests by route template (never an id), decisions by entrypoint and result, the merged-view
cache, backend errors by backend, Redis pool waits and admission refusals. Counters are
process-wide, so each test compares a scrape after with a scrape before."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import redis
import redis.asyncio as aredis
from litestar import Litestar
from litestar.testing import AsyncTestClient
from litestar.types import Message, Receive, Scope, Send
from prometheus_client.parser import text_string_to_metric_families
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.api.edge.layer import Edge
from gateway.config import ConfigError, Settings, load_settings
from gateway.errors import BackendUnavailable
from gateway.observability.metrics import backend_of
from gateway.observability.redis_pool import MeasuredBlockingConnectionPool
from tests.fixtures.gateway import JWT_SECRET, AppFactory, caller, token_for
from tests.fixtures.live_gateway import live_gateway
from tests.fixtures.policies import minimal_policy
from tests.fixtures.redis_server import start_redis_server, stop_process

TOKEN = "metrics-token-for-the-tests-0123"
SERVER = {"name": "time", "transport": "stdio", "command": "uvx", "args": ["mcp-server-time"]}
AUTHZ = "gateway/authz/decision"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: AsyncTestClient[Litestar]) -> Samples:
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return parse(response.text)


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest_asyncio.fixture
async def gateway(start_gateway: AppFactory) -> AsyncTestClient[Litestar]:
    return await start_gateway(Settings(jwt_secret=JWT_SECRET, metrics_token=TOKEN))


async def test_without_a_token_only_loopback_clients_may_read(start_gateway: AppFactory) -> None:
    client = await start_gateway(Settings(jwt_secret=JWT_SECRET))
    # The test client's address is "testclient", not a loopback address (a live gateway
    # serving 127.0.0.1 is tests/integration/test_graceful_shutdown.py).
    refused = await client.get("/metrics")
    assert refused.status_code == 403
    assert "GATEWAY_METRICS_TOKEN" in refused.json()["detail"]


async def test_with_a_token_the_scraper_must_present_it(
    gateway: AsyncTestClient[Litestar],
) -> None:
    assert (await gateway.get("/metrics")).status_code == 401
    wrong = await gateway.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    # A user's token is not the metrics token.
    alice = caller(gateway, "alice")
    assert (await alice.get("/metrics")).status_code == 401
    answered = await gateway.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answered.status_code == 200
    assert answered.headers["content-type"].startswith("text/plain")
    assert "gateway_http_requests_total" in answered.text


async def test_requests_are_counted_by_route_template_and_never_name_an_id(
    gateway: AsyncTestClient[Litestar],
) -> None:
    alice = caller(gateway, "alice-4d1f")
    before = await scrape(gateway)
    server_id = (await alice.post("/v1/mcp-servers", json=SERVER)).json()["id"]
    assert (await alice.get(f"/v1/mcp-servers/{server_id}")).status_code == 200
    assert (await alice.get(f"/v1/mcp-servers/{server_id}x")).status_code == 404
    assert (await gateway.get("/v1/mcp-servers")).status_code == 401  # no token
    response = await gateway.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    after = parse(response.text)

    route = "/v1/mcp-servers/{server_id}"
    requests = "gateway_http_requests_total"
    assert grew(before, after, requests, method="POST", route="/v1/mcp-servers", status="201")
    assert grew(before, after, requests, method="GET", route=route, status="200") == 1
    assert grew(before, after, requests, method="GET", route=route, status="404") == 1
    assert grew(before, after, requests, method="GET", route="/v1/mcp-servers", status="401") == 1
    latency = "gateway_http_request_duration_seconds_count"
    assert grew(before, after, latency, method="GET", route=route) == 2
    assert server_id not in response.text and "alice-4d1f" not in response.text


async def test_decisions_are_counted_by_entrypoint_result_and_memo(
    gateway: AsyncTestClient[Litestar], request: pytest.FixtureRequest
) -> None:
    # The embedded engine remembers a decision per policy revision; OPA is asked every time.
    memo = request.config.getoption("--engine") != "opa"
    alice, bob = caller(gateway, "alice"), caller(gateway, "bob")
    server_id = (await alice.post("/v1/mcp-servers", json=SERVER)).json()["id"]
    before = await scrape(gateway)
    assert (await alice.get(f"/v1/mcp-servers/{server_id}")).status_code == 200
    assert (await alice.get(f"/v1/mcp-servers/{server_id}")).status_code == 200  # remembered
    assert (await bob.get(f"/v1/mcp-servers/{server_id}")).status_code == 404
    after = await scrape(gateway)

    def decided(result: str, memoized: str) -> float:
        labels = {"entrypoint": AUTHZ, "result": result, "memoized": memoized}
        return grew(before, after, "gateway_decisions_total", **labels)

    assert decided("allow", "false") == (1 if memo else 2)
    assert decided("allow", "true") == (1 if memo else 0)
    assert decided("deny", "false") == 1
    # The latency histogram observes the engine's evaluations, not the memo's answers.
    timed = grew(before, after, "gateway_decision_duration_seconds_count", entrypoint=AUTHZ)
    assert timed == (2 if memo else 3)


async def test_an_engine_error_is_an_error_decision_and_a_policy_engine_backend_error(
    tmp_path: Path, start_gateway: AppFactory
) -> None:
    client = await start_gateway(
        Settings(jwt_secret=JWT_SECRET, metrics_token=TOKEN, policy_dir=str(_conflicting(tmp_path)))
    )
    before = await scrape(client)
    response = await caller(client, "alice").post("/v1/mcp-servers", json=SERVER)
    assert response.status_code == 503, response.text
    after = await scrape(client)
    labels = {"entrypoint": AUTHZ, "result": "error", "memoized": "false"}
    assert grew(before, after, "gateway_decisions_total", **labels) == 1
    assert grew(before, after, "gateway_backend_errors_total", backend="policy_engine") == 1


def _conflicting(tmp_path: Path) -> Path:
    """Every entrypoint defined; a create's decision has two values (an evaluation error)."""
    return minimal_policy(
        tmp_path,
        'decision := {"allow": true, "visible": true, "reasons": []} '
        'if input.action == "mcp_server.create"\n'
        'decision := {"allow": false, "visible": true, "reasons": []} '
        'if input.action == "mcp_server.create"\n'
        'decision := {"allow": false, "visible": false, "reasons": []} '
        'if input.action != "mcp_server.create"\n',
    )


@pytest.mark.redis
async def test_view_cache_misses_then_hits(redis_url: str, start_gateway: AppFactory) -> None:
    flush = aredis.from_url(redis_url)
    await flush.flushdb()
    await flush.aclose()
    client = await start_gateway(
        Settings(jwt_secret=JWT_SECRET, metrics_token=TOKEN, redis_url=redis_url)
    )
    alice = caller(client, "alice")
    assert (await alice.post("/v1/mcp-servers", json=SERVER)).status_code == 201
    before = await scrape(client)
    for _ in range(3):
        assert len((await alice.get("/v1/mcp-servers")).json()["items"]) == 1
    after = await scrape(client)
    lookups = "gateway_view_cache_lookups_total"
    assert grew(before, after, lookups, result="miss") == 1
    assert grew(before, after, lookups, result="hit") == 2


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, object]]:
    """A redis-server of this test's own: it is stopped under the gateway."""
    proc, port = start_redis_server(tmp_path)
    try:
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        if proc.poll() is None:
            stop_process(proc)


@pytest.mark.redis
async def test_a_redis_outage_is_a_redis_backend_error(
    own_redis: tuple[str, object], start_gateway: AppFactory
) -> None:
    url, proc = own_redis
    client = await start_gateway(
        Settings(jwt_secret=JWT_SECRET, metrics_token=TOKEN, redis_url=url)
    )
    alice = caller(client, "alice")
    assert (await alice.get("/v1/mcp-servers")).status_code == 200
    before = await scrape(client)
    stop_process(proc)  # type: ignore[arg-type]
    assert (await alice.get("/v1/mcp-servers")).status_code == 503
    after = await scrape(client)
    assert grew(before, after, "gateway_backend_errors_total", backend="redis") == 1
    assert grew(before, after, "gateway_backend_errors_total", backend="policy_engine") == 0


def test_backend_errors_are_told_apart_by_what_the_error_names() -> None:
    named = {
        "redis unavailable: connection refused": "redis",
        "vault unavailable: sealed": "vault",
        "policy engine (OPA) timed out": "policy_engine",
        "decision log unavailable: its queue is full": "decision_log",
        "something else": "other",
    }
    assert {d: backend_of(BackendUnavailable(d)) for d in named} == named


@pytest_asyncio.fixture
async def one_connection_pool(redis_url: str) -> AsyncIterator[MeasuredBlockingConnectionPool]:
    pool = MeasuredBlockingConnectionPool.from_url(redis_url, max_connections=1, timeout=0.2)
    try:
        yield pool
    finally:
        await pool.aclose()


@pytest.mark.redis
async def test_pool_waits_and_timeouts_are_counted(
    one_connection_pool: MeasuredBlockingConnectionPool, gateway: AsyncTestClient[Litestar]
) -> None:
    pool = one_connection_pool
    before = await scrape(gateway)
    held = await pool.get_connection()
    with pytest.raises(RedisConnectionError, match="No connection available"):
        await pool.get_connection()  # the only connection is held: waits, then gives up
    waiter = asyncio.create_task(pool.get_connection())
    # Until the waiter is queued on the pool's condition (nothing to wait on but that).
    while not pool._condition._waiters:  # noqa: ASYNC110
        await asyncio.sleep(0)
    await pool.release(held)
    await pool.release(await waiter)
    free = await pool.get_connection()  # no wait: not counted
    await pool.release(free)
    after = await scrape(gateway)
    assert grew(before, after, "gateway_redis_pool_waits_total") == 2
    assert grew(before, after, "gateway_redis_pool_timeouts_total") == 1
    assert grew(before, after, "gateway_redis_pool_wait_seconds_count") == 2


async def test_admission_refusals_are_counted_and_metrics_are_exempt(
    gateway: AsyncTestClient[Litestar],
) -> None:
    """Straight at the middleware with a limit of one (AsyncTestClient serves one request
    at a time): one request held in flight, a second refused, /metrics let through."""
    edge = Edge(
        max_in_flight=1, body_timeout_seconds=5, allowed_origins=(), recorder_of=lambda: None
    )
    stats = edge.admission
    release = asyncio.Event()
    entered = asyncio.Event()
    served: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        served.append(scope["path"])
        if scope["path"] != "/metrics":
            entered.set()
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    answers: list[int] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answers.append(message["status"])

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    def scope(path: str) -> Scope:
        return {"type": "http", "path": path, "method": "GET", "headers": []}  # type: ignore[return-value]

    middleware = edge.wrap(app)
    before = await scrape(gateway)
    held = asyncio.create_task(middleware(scope("/v1/mcp-servers"), receive, send))
    await entered.wait()
    during = await scrape(gateway)
    await middleware(scope("/v1/mcp-servers"), receive, send)  # refused at once
    await middleware(scope("/metrics"), receive, send)  # exempt
    release.set()
    await held
    after = await scrape(gateway)
    assert answers == [503, 200, 200]
    assert served == ["/v1/mcp-servers", "/metrics"]
    assert stats.refused == 1
    assert grew(before, after, "gateway_admission_rejected_total") == 1
    assert grew(before, during, "gateway_http_requests_in_flight") == 1
    assert grew(before, after, "gateway_http_requests_in_flight") == 0


async def test_metrics_scrapes_pass_a_full_gateway(start_gateway: AppFactory) -> None:
    """Exempt from admission through the whole app too (the route is listed with health)."""
    client = await start_gateway(
        Settings(jwt_secret=JWT_SECRET, metrics_token=TOKEN, max_concurrent_requests=1)
    )
    stats = client.app.state.admission
    before = await scrape(client)
    stats.in_flight = stats.limit  # as if a request were in flight
    try:
        assert (await caller(client, "alice").get("/v1/mcp-servers")).status_code == 503
        after = await scrape(client)  # answered, though the gateway is full
    finally:
        stats.in_flight = 0
    assert grew(before, after, "gateway_admission_rejected_total") == 1
    route = {"method": "GET", "route": "/v1/mcp-servers", "status": "503"}
    assert grew(before, after, "gateway_http_requests_total", **route) == 1


# A `gateway serve` process (live_gateway) always runs the embedded engine, whatever `--engine`
# says: the OPA pass would repeat it as it is (tests/conftest.py skips it there).
@pytest.mark.engine_independent
@pytest.mark.redis
def test_with_workers_any_worker_answers_the_sum_of_all(tmp_path: Path, redis_url: str) -> None:
    """`gateway serve --workers 2` runs prometheus-client's multiprocess mode: whichever
    worker a scrape reaches, it counts the requests every worker served."""
    flush = redis.Redis.from_url(redis_url)
    flush.flushdb()
    flush.close()
    with live_gateway(tmp_path, args=("--workers", "2"), GATEWAY_REDIS_URL=redis_url) as gw:
        alice = gw.client("alice")
        created = alice.post("/v1/mcp-servers", json=SERVER)
        url = f"{gw.base_url}/v1/mcp-servers/{created.json()['id']}"
        # Fresh connections, so the kernel spreads them over both workers.
        for _ in range(40):
            assert httpx.get(url, headers=alice.headers).status_code == 200
        auditor = {"Authorization": f"Bearer {token_for('ann', roles=('auditor',))}"}
        listed = httpx.get(
            f"{gw.base_url}/v1/audit/decisions?user_id=alice&limit=100", headers=auditor
        ).json()["items"]
        scrapes = [parse(httpx.get(f"{gw.base_url}/metrics").text) for _ in range(6)]
    assert len({r["labels"]["id"] for r in listed}) == 2  # both workers served some
    route = {"method": "GET", "route": "/v1/mcp-servers/{server_id}", "status": "200"}
    assert {value(s, "gateway_http_requests_total", **route) for s in scrapes} == {40.0}


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"GATEWAY_METRICS_TOKEN": "short"}, "GATEWAY_METRICS_TOKEN"),
        ({"GATEWAY_SHUTDOWN_GRACE_SECONDS": "0"}, "GATEWAY_SHUTDOWN_GRACE_SECONDS"),
        ({"GATEWAY_SHUTDOWN_GRACE_SECONDS": "601"}, "GATEWAY_SHUTDOWN_GRACE_SECONDS"),
    ],
)
def test_bad_operability_settings_name_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({"GATEWAY_JWT_SECRET": JWT_SECRET, **env})


def test_the_metrics_token_is_never_printed() -> None:
    settings = load_settings({"GATEWAY_JWT_SECRET": JWT_SECRET, "GATEWAY_METRICS_TOKEN": TOKEN})
    assert settings.metrics_token == TOKEN
    assert TOKEN not in repr(settings)
