"""The decision log as auditors use it (issue 11): a user's denial found by filters and by
its id, after a restart and from another replica; enterprise admins confined to their
enterprise; everyone else refused; the export is OPA's decision-log NDJSON; no secret ever
reaches a record; and what happens when the log cannot be written."""

from __future__ import annotations

import base64
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import pytest
import pytest_asyncio
import redis.asyncio as aredis
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY

from gateway.config import Settings
from tests.fixtures.gateway import AppFactory, Caller, caller, join, on_app_loop

DECISIONS = "/v1/audit/decisions"
SUMMARY = "/v1/audit/summary"
MANAGED = {"name": "github", "transport": "streamable_http", "url": "https://mcp.example.com/mcp"}
OPA_LOG_FIELDS = {"decision_id", "path", "input", "result", "timestamp", "bundles", "labels"}


def auditor(client: AsyncTestClient[Litestar]) -> Caller:
    return caller(client, "ann", roles=("auditor",))


async def _enterprise_with_a_denial(owner: Caller, member: Caller) -> tuple[str, str, str]:
    """`owner`'s enterprise with `member` in it and a managed server `member` is refused to
    change: (enterprise id, server id, the denial's decision id)."""
    ent = (await owner.post("/v1/enterprises", json={"name": f"Acme of {owner.user}"})).json()
    await join(owner, member, ent["id"], "member")
    created = await owner.post(
        f"/v1/enterprise/mcp-servers?enterprise_id={ent['id']}",
        json={**MANAGED, "auto_enabled": True},
    )
    assert created.status_code == 201, created.text
    server_id = created.json()["id"]
    denied = await member.patch(f"/v1/mcp-servers/{server_id}", json={"name": "mine"})
    assert denied.status_code == 403, denied.text
    return ent["id"], server_id, denied.headers["x-decision-id"]


def _is_the_denial(record: dict[str, Any], decision_id: str, server_id: str, ent: str) -> None:
    assert record["decision_id"] == decision_id
    assert (record["subject_id"], record["allowed"], record["action"]) == (
        "bob",
        False,
        "mcp_server.update",
    )
    assert (record["resource_id"], record["enterprise_id"]) == (server_id, ent)
    assert [r["code"] for r in record["result"]["reasons"]] == ["enterprise_managed"]
    assert record["path"] == "gateway/authz/decision"
    assert record["http"] == {
        "method": "PATCH",
        "path": f"/v1/mcp-servers/{server_id}",
        "status": 403,
    }
    assert record["input"]["proposed"]["name"] == "mine"  # what B tried, in full


async def test_an_auditor_finds_bs_denial_with_its_reasons(
    client_as: Callable[..., Caller],
) -> None:
    alice, bob = client_as("alice"), client_as("bob")
    ent, server_id, decision_id = await _enterprise_with_a_denial(alice, bob)
    ann = auditor(alice.client)

    found = await ann.get(f"{DECISIONS}?user_id=bob&allowed=false")
    assert found.status_code == 200, found.text
    items = found.json()["items"]
    assert items and all(r["subject_id"] == "bob" and r["allowed"] is False for r in items)
    _is_the_denial(items[0], decision_id, server_id, ent)  # newest first: the denial
    one = await ann.get(f"{DECISIONS}/{decision_id}")
    assert one.status_code == 200
    _is_the_denial(one.json(), decision_id, server_id, ent)
    assert (await ann.get(f"{DECISIONS}/00000000-0000-0000-0000-000000000000")).status_code == 404


async def test_every_decision_of_a_request_shares_its_request_id(
    client_as: Callable[..., Caller],
) -> None:
    alice = client_as("alice")
    listed = await alice.get("/v1/marketplace/servers", headers={"X-Request-Id": "req-42"})
    assert listed.status_code == 200 and listed.headers["x-request-id"] == "req-42"
    found = (await auditor(alice.client).get(f"{DECISIONS}?req_id=req-42")).json()["items"]
    paths = {r["path"] for r in found}
    assert {"gateway/scope/view", "gateway/marketplace/listings"} <= paths, paths
    assert all(r["req_id"] == "req-42" and r["http"]["status"] == 200 for r in found)
    assert listed.headers["x-decision-id"] in {r["decision_id"] for r in found}


async def test_pages_of_a_query_walk_every_record_once(client_as: Callable[..., Caller]) -> None:
    alice = client_as("alice")
    for _ in range(7):
        await alice.get("/v1/mcp-servers")
    ann = auditor(alice.client)
    seen: list[str] = []
    url = f"{DECISIONS}?user_id=alice&limit=3"
    while url:
        page = (await ann.get(url)).json()
        seen += [r["decision_id"] for r in page["items"]]
        url = (
            f"{DECISIONS}?user_id=alice&limit=3&cursor={page['next_cursor']}"
            if page["next_cursor"]
            else ""
        )
    everything = (await ann.get(f"{DECISIONS}?user_id=alice&limit=500")).json()["items"]
    assert seen == [r["decision_id"] for r in everything] and len(seen) >= 7


async def test_enterprise_admins_read_their_enterprise_only(
    client_as: Callable[..., Caller],
) -> None:
    alice, bob, carol, erin = (client_as(u) for u in ("alice", "bob", "carol", "erin"))
    ent, _, denial = await _enterprise_with_a_denial(alice, bob)
    await join(alice, carol, ent, "admin")
    other, _, other_denial = await _enterprise_with_a_denial(erin, bob)

    mine = await carol.get(f"{DECISIONS}?enterprise_id={ent}")
    assert mine.status_code == 200, mine.text
    assert {r["enterprise_id"] for r in mine.json()["items"]} == {ent}
    assert denial in {r["decision_id"] for r in mine.json()["items"]}
    assert (await carol.get(f"{DECISIONS}/{denial}?enterprise_id={ent}")).status_code == 200
    # One record is read as the whole log's (auditors) or as one enterprise's.
    assert (await carol.get(f"{DECISIONS}/{denial}")).status_code == 403
    assert (await carol.get(f"{DECISIONS}/{other_denial}?enterprise_id={ent}")).status_code == 404
    for refused in (
        f"{DECISIONS}?enterprise_id={other}",
        f"{DECISIONS}",  # the whole log is the auditors'
        f"{DECISIONS}?user_id=bob",
        f"{DECISIONS}/{other_denial}",
        f"{DECISIONS}/export?enterprise_id={other}",
    ):
        response = await carol.get(refused)
        assert response.status_code == 403, refused
        assert response.json()["decision_id"] == response.headers["x-decision-id"]


async def test_an_owner_sees_nothing_of_another_enterprise_in_their_records(
    client_as: Callable[..., Caller],
) -> None:
    """Issue 24: alice's `?enterprise_id=` showed bob's membership of erin's enterprise (its
    id, his role, its restrict flag) inside bob's records."""
    alice, bob, erin = (client_as(u) for u in ("alice", "bob", "erin"))
    other, _, _ = await _enterprise_with_a_denial(erin, bob)
    ent, _, denial = await _enterprise_with_a_denial(alice, bob)

    listed = await alice.get(f"{DECISIONS}?enterprise_id={ent}&user_id=bob")
    one = await alice.get(f"{DECISIONS}/{denial}?enterprise_id={ent}")
    exported = await alice.get(f"{DECISIONS}/export?enterprise_id={ent}")
    assert (listed.status_code, one.status_code, exported.status_code) == (200, 200, 200)
    for shown in (listed.text, one.text, exported.text):
        assert ent in shown and other not in shown
    record = one.json()
    assert set(record["input"]["subject"]["memberships"]) == {ent}
    assert record["redacted"] == ["/input/subject/memberships"]
    # An auditor reading the whole log sees the record as it is stored.
    full = await auditor(alice.client).get(f"{DECISIONS}/{denial}")
    assert set(full.json()["input"]["subject"]["memberships"]) == {ent, other}
    assert full.json()["redacted"] == []


async def test_an_outsiders_probe_is_not_filed_under_the_enterprise_probed(
    client_as: Callable[..., Caller],
) -> None:
    alice, mallory = client_as("alice"), client_as("mallory")
    ent, _, _ = await _enterprise_with_a_denial(alice, client_as("bob"))
    probe = await mallory.get(f"/v1/enterprises/{ent}")
    assert probe.status_code == 404
    probe_id = probe.headers["x-decision-id"]
    owners = (await alice.get(f"{DECISIONS}?enterprise_id={ent}&limit=500")).json()["items"]
    assert probe_id not in {r["decision_id"] for r in owners}
    assert "mallory" not in {r["subject_id"] for r in owners}
    found = (await auditor(alice.client).get(f"{DECISIONS}?user_id=mallory")).json()["items"]
    assert probe_id in {r["decision_id"] for r in found}


async def test_a_marketplace_page_counts_its_denials_per_item(
    client_as: Callable[..., Caller],
) -> None:
    """Issue 24: page decisions carried `allowed: null` and never counted as denials."""
    alice = client_as("alice")
    ent = (await alice.post("/v1/enterprises", json={"name": "Strict"})).json()["id"]
    restricted = await alice.patch(
        f"/v1/enterprises/{ent}", json={"restrict_installs_to_approved": True}
    )
    assert restricted.status_code == 200, restricted.text
    again = await alice.get("/v1/marketplace/servers?limit=500")
    listings = again.json()["items"]
    denied = sum(1 for item in listings if not item["allowed"])
    assert denied == len(listings) > 0  # nothing approved: every install refused
    page_id = again.headers["x-decision-id"]
    record = (await auditor(alice.client).get(f"{DECISIONS}/{page_id}")).json()
    assert record["path"] == "gateway/marketplace/listings" and record["allowed"] is None
    assert (record["items_allowed"], record["items_denied"]) == (len(listings) - denied, denied)


async def test_the_summary_counts_denials_by_rule_day_subject_and_action(
    client_as: Callable[..., Caller],
) -> None:
    alice, bob = client_as("alice"), client_as("bob")
    ent, _, _ = await _enterprise_with_a_denial(alice, bob)
    mine = await alice.get(f"{SUMMARY}?enterprise_id={ent}&allowed=false")
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["complete"] is True and body["denied"] == 1 and body["allowed"] == 0
    assert body["by_rule"] == [{"key": "enterprise_managed", "count": 1}]
    assert body["by_subject"] == [{"key": "bob", "count": 1}]
    assert body["by_action"] == [{"key": "mcp_server.update", "count": 1}]
    assert [d["denied"] for d in body["by_day"]] == [1]
    assert body["by_rule_day"][0]["rule"] == "enterprise_managed"
    # Bounded, and asked like a query: the same decision, the same 400s.
    everything = await auditor(alice.client).get(f"{SUMMARY}?top=1&since=today")
    assert everything.status_code == 200 and len(everything.json()["by_subject"]) <= 1
    assert (await alice.get(f"{SUMMARY}?top=51&enterprise_id={ent}")).status_code == 400
    assert (await alice.get(f"{SUMMARY}?rule=x&enterprise_id={ent}")).status_code == 400
    assert (await bob.get(f"{SUMMARY}?enterprise_id={ent}")).status_code == 403
    assert (await alice.get(SUMMARY)).status_code == 403  # the whole log: auditors only


async def test_denials_are_counted_per_rule_in_metrics(
    client_as: Callable[..., Caller],
) -> None:
    alice, bob = client_as("alice"), client_as("bob")

    async def denials() -> float:
        runtime = alice.client.app.state.runtime
        assert await on_app_loop(alice.client, runtime.services.audit_writer.flush())
        # The module-level counters /metrics serves (tests/api/test_metrics.py scrapes them).
        found = REGISTRY.get_sample_value(
            "gateway_policy_denials_total", {"rule": "enterprise_managed"}
        )
        return found or 0.0

    before = await denials()
    await _enterprise_with_a_denial(alice, bob)
    assert await denials() == before + 1


async def test_anyone_else_is_refused(client_as: Callable[..., Caller]) -> None:
    alice, bob = client_as("alice"), client_as("bob")
    ent, _, denial = await _enterprise_with_a_denial(alice, bob)
    for url in (
        DECISIONS,
        f"{DECISIONS}?user_id=bob",
        f"{DECISIONS}?enterprise_id={ent}",  # a member, not an admin
        f"{DECISIONS}/{denial}",
        f"{DECISIONS}/export",
    ):
        response = await bob.get(url)
        assert response.status_code == 403, url
        codes = {r["code"] for r in response.json()["reasons"]}
        assert codes and codes <= {"not_permitted", "role_required"}, codes


async def test_the_export_is_opa_decision_log_ndjson_oldest_first(
    client_as: Callable[..., Caller],
) -> None:
    alice, bob = client_as("alice"), client_as("bob")
    _, _, denial = await _enterprise_with_a_denial(alice, bob)
    exported = await auditor(alice.client).get(f"{DECISIONS}/export")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    lines = exported.content.splitlines()
    records = [msgspec.json.decode(line) for line in lines]
    assert denial in {r["decision_id"] for r in records}
    for record in records:
        assert set(record) >= OPA_LOG_FIELDS, set(record)
        assert "/" in record["path"] and "." not in record["path"]
        assert isinstance(record["bundles"]["gateway"]["revision"], str)
        assert set(record["labels"]) == {"id", "version", "engine"}
    assert [r["seq"] for r in records] == sorted(r["seq"] for r in records)
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(records))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=2026-11-30T10:00:00", "since"),  # no time zone
        ("until=yesterday", "until"),
        ("allowed=maybe", "allowed"),
        ("user_id=bob%0A", "user_id"),
        ("action=DROP TABLE", "action"),
        ("cursor=not.ours", "cursor"),  # not base64url: the document's pattern refuses it
        ("limit=0", "limit"),
        ("user=bob", "user"),  # issue 24: silently ignored, 191 records of four users came back
        ("reason=enterprise_managed", "reason"),
        ("since=1y", "since"),
    ],
)
async def test_bad_filters_are_400_naming_the_parameter(
    client_as: Callable[..., Caller], query: str, field: str
) -> None:
    response = await auditor(client_as("x").client).get(f"{DECISIONS}?{query}")
    assert response.status_code == 400, response.text
    assert field in response.text


async def test_unknown_parameters_are_named_on_every_audit_route(
    client_as: Callable[..., Caller],
) -> None:
    ann = auditor(client_as("x").client)
    for url in (
        f"{DECISIONS}?user=bob&reason=x&allowed=false",
        f"{DECISIONS}/export?limit=5",
        f"{DECISIONS}/some-id?user_id=bob",
    ):
        response = await ann.get(url)
        assert response.status_code == 400, url
        body = response.json()
        assert {e["key"] for e in body["extra"]} == (
            {"user", "reason"} if "reason" in url else {"limit"} if "export" in url else {"user_id"}
        ), body


@pytest.mark.parametrize("since", ["15m", "1h", "7d", "today", "2026-01-01T00:00:00Z"])
async def test_the_api_takes_the_clis_time_grammar(
    client_as: Callable[..., Caller], since: str
) -> None:
    alice = client_as("alice")
    denied = await client_as("bob").get("/v1/enterprises/ent_nope")
    assert denied.status_code == 404
    found = await auditor(alice.client).get(f"{DECISIONS}?user_id=bob&since={since}")
    assert found.status_code == 200, found.text
    assert denied.headers["x-decision-id"] in {r["decision_id"] for r in found.json()["items"]}
    later = await auditor(alice.client).get(f"{DECISIONS}?user_id=bob&until={since}")
    assert denied.headers["x-decision-id"] not in {r["decision_id"] for r in later.json()["items"]}


async def test_a_cursor_the_gateway_did_not_issue_is_a_422(
    client_as: Callable[..., Caller],
) -> None:
    """Well formed (base64url), so the document allows it; only the gateway can tell it
    never issued it (docs/api-contract.md)."""
    response = await auditor(client_as("x").client).get(f"{DECISIONS}?cursor=not-ours")
    assert response.status_code == 422, response.text
    assert response.json()["extra"] == [{"key": "cursor", "message": "not a cursor we issued"}]
    # A sequence past Redis's 64-bit stream ids was Redis's error, answered as a 503.
    huge = base64.urlsafe_b64encode(str(2**64).encode()).decode().rstrip("=")
    past = await auditor(client_as("x").client).get(f"{DECISIONS}?cursor={huge}")
    assert past.status_code == 422, past.text
    first = await auditor(client_as("x").client).get(f"{DECISIONS}?cursor=")
    assert first.status_code == 200, first.text  # empty: the first page, as on every list


SECRETS = {
    "credential": "sk-live-CREDENTIAL",
    "header": "sk-live-HEADER",
    "argument": "sk-live-ARGUMENT",
    "flag": "sk-live-FLAG",
    "userinfo": "sk-live-USERINFO",
    "query": "sk-live-QUERY",
}


async def test_no_secret_set_through_the_api_reaches_a_record_or_the_export(
    client_as: Callable[..., Caller],
) -> None:
    alice = client_as("alice")
    remote = await alice.post(
        "/v1/mcp-servers",
        json={
            "name": "remote",
            "transport": "streamable_http",
            "url": f"https://alice:{SECRETS['userinfo']}@mcp.example.com/mcp"
            f"?region=eu&access_token={SECRETS['query']}",
            "headers": {"Authorization": f"Bearer {SECRETS['header']}"},
        },
    )
    assert remote.status_code == 201, remote.text
    local = await alice.post(
        "/v1/mcp-servers",
        json={
            "name": "local",
            "transport": "stdio",
            "command": "mcp-server",
            "args": [f"--api-key={SECRETS['argument']}", "--token", SECRETS["flag"]],
            "env": ["SERVICE_TOKEN"],
        },
    )
    assert local.status_code == 201, local.text
    local_id = local.json()["id"]
    put = await alice.put(
        f"/v1/mcp-servers/{local_id}/credentials",
        json={"values": {"SERVICE_TOKEN": SECRETS["credential"]}},
    )
    assert put.status_code == 200, put.text
    await alice.patch(f"/v1/mcp-servers/{remote.json()['id']}", json={"name": "renamed"})
    await alice.get("/v1/mcp-servers")

    ann = auditor(alice.client)
    exported = (await ann.get(f"{DECISIONS}/export")).text
    queried = (await ann.get(f"{DECISIONS}?user_id=alice&limit=500")).text
    assert "mcp_server.credentials.set" in exported and "SERVICE_TOKEN" in exported
    for where, secret in SECRETS.items():
        assert secret not in exported, f"the {where} secret is in the export"
        assert secret not in queried, f"the {where} secret is in a query"
    created = next(
        r
        for r in (await ann.get(f"{DECISIONS}?action=mcp_server.create&limit=500")).json()["items"]
        if r["resource_id"] == remote.json()["id"]
    )
    assert created["masked"] == [
        "/input/proposed/headers/Authorization",
        "/input/proposed/url",
        "/input/resource/headers/Authorization",
        "/input/resource/url",
    ]
    assert created["input"]["proposed"]["headers"] == {"Authorization": "***"}


# --- Redis: one log for every replica, durable across restarts ---------------------------


@pytest.mark.parametrize("store_mode", ["redis", "cluster"], indirect=True)
async def test_a_denial_is_found_after_a_restart_and_from_another_replica(
    gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    first = await start_gateway(gateway_settings)
    ent, server_id, decision_id = await _enterprise_with_a_denial(
        caller(first, "alice"), caller(first, "bob")
    )
    await first.__aexit__(None, None, None)  # the replica that decided stops (and flushes)

    restarted = await start_gateway(gateway_settings)
    second = await start_gateway(gateway_settings)
    for replica in (restarted, second):
        found = await auditor(replica).get(f"{DECISIONS}/{decision_id}")
        assert found.status_code == 200, found.text
        _is_the_denial(found.json(), decision_id, server_id, ent)
        listed = (await auditor(replica).get(f"{DECISIONS}?user_id=bob&allowed=false")).json()
        assert decision_id in {r["decision_id"] for r in listed["items"]}


@pytest.mark.parametrize("store_mode", ["redis", "cluster"], indirect=True)
async def test_two_replicas_write_one_verifiable_chain(
    gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    replicas = [await start_gateway(gateway_settings) for _ in range(2)]
    for i in range(10):
        await caller(replicas[i % 2], f"user{i}").get("/v1/mcp-servers")
    log = replicas[0].app.state.runtime.stores.decision_log

    async def verify() -> Any:
        for replica in replicas:
            await replica.app.state.runtime.services.audit_writer.flush()
        return await log.verify()

    report = await on_app_loop(replicas[0], verify())
    assert report.ok and report.checked >= 20, report


# --- when the log cannot be written ------------------------------------------------------


@pytest_asyncio.fixture
async def redis_admin(redis_url: str) -> AsyncIterator[aredis.Redis]:
    client = aredis.Redis.from_url(redis_url)
    yield client
    await client.execute_command("ACL", "SETUSER", "default", "+@all")
    await client.aclose()


async def _break_the_log(redis_admin: aredis.Redis) -> None:
    """XADD refused: the stores keep working, the decision log cannot append."""
    await redis_admin.execute_command("ACL", "SETUSER", "default", "-xadd")


async def _mend_the_log(redis_admin: aredis.Redis) -> None:
    await redis_admin.execute_command("ACL", "SETUSER", "default", "+xadd")


@pytest.mark.parametrize("store_mode", ["redis"], indirect=True)
async def test_required_logging_refuses_what_it_cannot_log(
    gateway_settings: Settings, start_gateway: AppFactory, redis_admin: aredis.Redis
) -> None:
    gateway = await start_gateway(msgspec.structs.replace(gateway_settings, audit_required=True))
    alice = caller(gateway, "alice")
    assert (await alice.get("/v1/mcp-servers")).status_code == 200
    await _break_the_log(redis_admin)

    refused = await alice.post("/v1/mcp-servers", json={**MANAGED, "name": "unlogged"})
    assert refused.status_code == 503, refused.text
    assert "decision log" in refused.json()["detail"]
    ready = await gateway.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["decision_log"] != "ok"

    await _mend_the_log(redis_admin)
    for _ in range(50):  # the writer probes the log and serves again
        if (await gateway.get("/readyz")).status_code == 200:
            break
        await on_app_loop(gateway, _sleep(0.1))
    names = [s["name"] for s in (await alice.get("/v1/mcp-servers")).json()["items"]]
    assert names == []  # the refused create was never done
    logged = await alice.post("/v1/mcp-servers", json={**MANAGED, "name": "logged"})
    assert logged.status_code == 201
    record = await auditor(gateway).get(f"{DECISIONS}/{logged.headers['x-decision-id']}")
    assert record.status_code == 200 and record.json()["allowed"] is True
    assert "status" not in record.json()["http"]  # written before the response existed


@pytest.mark.parametrize("store_mode", ["redis"], indirect=True)
async def test_by_default_a_failing_log_is_retried_and_counted_not_fatal(
    gateway_settings: Settings, start_gateway: AppFactory, redis_admin: aredis.Redis
) -> None:
    gateway = await start_gateway(gateway_settings)
    alice = caller(gateway, "alice")
    await _break_the_log(redis_admin)
    created = await alice.post("/v1/mcp-servers", json=MANAGED)
    assert created.status_code == 201
    decision_id = created.headers["x-decision-id"]
    await on_app_loop(gateway, _sleep(0.3))
    ready = await gateway.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"
    assert ready.json()["decision_log"]["failed_writes"] >= 1

    await _mend_the_log(redis_admin)
    found = await auditor(gateway).get(f"{DECISIONS}/{decision_id}")
    assert found.status_code == 200  # queued while the log failed, written once it answered
    assert found.json()["http"]["status"] == 201


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
