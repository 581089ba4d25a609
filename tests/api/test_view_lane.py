"""The edge's lane for `GET /v1/mcp-servers` (gateway/api/edge/view_lane.py, ADR 0059)
answers exactly what the route's handler answers. Litestar's route still serves the same
view at `/v1/mcp-servers/` (the lane takes only the exact path), so each request is asked
both ways and the answers compared: status, headers (but the per-request ids) and body."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from gateway.config import Settings
from tests.fixtures.gateway import AppFactory, Caller, caller, decision_records, join

SERVER = {"name": "time", "transport": "stdio", "command": "uvx"}
PER_REQUEST = {"x-request-id", "x-decision-id", "retry-after"}


def answer(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [(k, v) for k, v in response.headers.multi_items() if k not in PER_REQUEST]
    return response.status_code, headers, response.content


async def both_ways(who: Caller, query: str = "", **kw: Any) -> tuple[Any, Any, int]:
    """The lane's answer, the route's, and how many requests the lane served for them."""
    lane = who.client.app.state.view_lane
    before = lane.served
    by_lane = await who.get(f"/v1/mcp-servers{query}", **kw)
    by_route = await who.get(f"/v1/mcp-servers/{query}", **kw)
    return answer(by_lane), answer(by_route), lane.served - before


@pytest.mark.parametrize("store_mode", ["memory", "redis", "cluster"], indirect=True)
async def test_the_lane_answers_what_the_route_answers(
    gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    client = await start_gateway(gateway_settings)
    alice, bob = caller(client, "alice"), caller(client, "bob")
    ent = (await bob.post("/v1/enterprises", json={"name": "Acme"})).json()["id"]
    await join(bob, alice, ent, "member")
    for _ in range(3):
        assert (await alice.post("/v1/mcp-servers", json=SERVER)).status_code == 201
    created = await bob.post(
        f"/v1/enterprise/mcp-servers?enterprise_id={ent}", json={**SERVER, "auto_enabled": True}
    )
    assert created.status_code == 201

    full = (await alice.get("/v1/mcp-servers")).json()
    assert len(full["items"]) == 4
    first = await alice.get("/v1/mcp-servers?limit=2")
    etag, cursor = first.headers["etag"], first.json()["next_cursor"]
    assert cursor

    taken = {  # the lane answers these itself
        "": {},
        "?limit=2": {},
        f"?limit=2&cursor={cursor}": {},
        f"?cursor={cursor}&limit=2": {},
        "?limit=2 304": {"If-None-Match": etag},
        "?limit=2 stale tag": {"If-None-Match": '"0000", W/"1111"'},
        "?limit=2 any": {"If-None-Match": "*"},
        "?cursor=_w": {},  # in the grammar, not a cursor the gateway issued: 422
    }
    for case, headers in taken.items():
        query = case.split(" ")[0]
        by_lane, by_route, served = await both_ways(alice, query, headers=headers)
        assert by_lane == by_route, case
        assert served == 1, f"{case}: the lane should have answered it"
    assert (await both_ways(alice, "?limit=2", headers={"If-None-Match": etag}))[0][0] == 304
    assert (await both_ways(alice, "?cursor=_w"))[0][0] == 422

    left = {  # Litestar's route answers these (the lane reads nothing it would have to decode)
        "?limit=0": {},
        "?limit=501": {},
        "?limit=abc": {},
        "?limit=2&limit=3": {},
        "?limit=%32": {},
        "?cursor=": {},
        "?other=1": {},
        " malformed tag": {"If-None-Match": "no-quotes"},
    }
    for case, headers in left.items():
        query = case.split(" ")[0]
        by_lane, by_route, served = await both_ways(alice, query, headers=headers)
        assert by_lane == by_route, case
        assert served == 0, f"{case}: the route should have answered it"
    assert (await both_ways(alice, "?limit=0"))[0][0] == 400
    assert (await both_ways(alice, "", headers={"If-None-Match": "no-quotes"}))[0][0] == 400


@pytest.mark.parametrize("store_mode", ["memory"], indirect=True)
async def test_the_lane_refuses_as_the_route_does(
    gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    """Refusals come from the route's own exception handling: 401 with its challenge, and
    429 once the subject's budget is spent (on the lane and the route alike)."""
    client = await start_gateway(
        Settings(**{**_fields(gateway_settings), "rate_limit_requests": 4})
    )
    nobody = Caller(client, None)
    forged = Caller(client, "not-a-token")
    for who in (nobody, forged):
        by_lane, by_route, served = await both_ways(who)
        assert by_lane == by_route and served == 1
        assert by_lane[0] == 401 and dict(by_lane[1])["www-authenticate"].startswith("Bearer")
    alice = caller(client, "alice")
    statuses = []
    for _ in range(3):
        by_lane, by_route, _served = await both_ways(alice)
        assert by_lane == by_route
        statuses.append(by_lane[0])
    assert statuses == [200, 200, 429]
    limited = await alice.get("/v1/mcp-servers")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


@pytest.mark.parametrize("store_mode", ["redis"], indirect=True)
async def test_a_lane_answer_is_logged_and_counted_as_the_routes(
    gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    client = await start_gateway(gateway_settings)
    alice = caller(client, "alice")
    counted = {"method": "GET", "route": "/v1/mcp-servers", "status": "200"}
    before = REGISTRY.get_sample_value("gateway_http_requests_total", counted) or 0
    answered = await alice.get("/v1/mcp-servers")
    assert answered.status_code == 200 and client.app.state.view_lane.served >= 1
    records = {r.decision_id: r for r in await decision_records(client)}
    settled = records[answered.headers["x-decision-id"]]
    assert settled.req_id == answered.headers["x-request-id"]
    assert (settled.action, settled.subject_id, settled.http.status) == ("scope.view", "alice", 200)
    assert REGISTRY.get_sample_value("gateway_http_requests_total", counted) == before + 1


def _fields(settings: Settings) -> dict[str, Any]:
    return {f: getattr(settings, f) for f in settings.__struct_fields__}
