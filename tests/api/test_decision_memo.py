"""Decision memoization (issue 12): the same question under the same policy revision is
answered from memory, and is still a decision of its own in the log — unless the policy
reads the clock or the request id, when nothing is remembered."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.audit.records import DecisionRecord
from gateway.config import REPO_POLICY_DIR, Settings
from gateway.policy.memo import DecisionMemo, memo_blockers, memo_key
from tests.fixtures.gateway import AppFactory, caller, decision_records

SERVER = {"name": "time", "transport": "stdio", "command": "uvx", "args": ["mcp-server-time"]}


def _of(records: list[DecisionRecord], path: str, subject: str) -> list[DecisionRecord]:
    return [r for r in records if r.path == path and r.subject_id == subject]


async def test_a_repeated_read_is_remembered_and_still_logged(
    gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    if gateway_settings.opa_url:
        pytest.skip("the OPA engine never memoizes (gateway/policy/opa.py)")
    client = await start_gateway(gateway_settings)
    alice = caller(client, "alice", email="alice@gmail.com")
    server_id = (await alice.post("/v1/mcp-servers", json=SERVER)).json()["id"]
    first = await alice.get(f"/v1/mcp-servers/{server_id}")
    second = await alice.get(f"/v1/mcp-servers/{server_id}")
    assert first.status_code == second.status_code == 200
    assert first.headers["x-decision-id"] != second.headers["x-decision-id"]

    reads = [
        r
        for r in _of(await decision_records(client), "gateway/authz/decision", "alice")
        if r.action == "mcp_server.read"
    ]
    assert [r.decision_id for r in reads] == [
        first.headers["x-decision-id"],
        second.headers["x-decision-id"],
    ]
    assert reads[0].req_id != reads[1].req_id  # each record keeps its own request id
    assert "counter_gateway_memoized" not in reads[0].metrics
    assert reads[1].metrics["counter_gateway_memoized"] == 1
    assert reads[0].result == reads[1].result
    assert reads[1].http is not None and reads[1].http.status == 200


async def test_provisioning_is_logged_once_not_on_every_request(
    gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    """A user without a personal-mail address is asked about (and refused) a personal
    enterprise on each request; the repeats are not logged again."""
    if gateway_settings.opa_url:
        pytest.skip("the OPA engine never memoizes (gateway/policy/opa.py)")
    client = await start_gateway(gateway_settings)
    bob = caller(client, "bob", email="bob@corp.example")
    for _ in range(5):
        assert (await bob.get("/v1/mcp-servers")).status_code == 200
    records = await decision_records(client)
    assert len(_of(records, "gateway/accounts/provision", "bob")) == 1
    assert len(_of(records, "gateway/scope/view", "bob")) == 5


async def test_a_policy_that_reads_the_clock_is_never_memoized(
    tmp_path: Path, gateway_settings: Settings, start_gateway: AppFactory
) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, policies)
    (policies / "gateway" / "hours.rego").write_text(
        "package gateway.authz\n\n"
        'deny contains {"code": "after_hours", "message": "closed"} if {\n'
        "\ttime.now_ns() < 0\n}\n"
    )
    if gateway_settings.opa_url:
        pytest.skip("the OPA engine never memoizes; this policy is the embedded engine's")
    settings = Settings(
        jwt_secret=gateway_settings.jwt_secret,
        redis_url=gateway_settings.redis_url,
        redis_cluster=gateway_settings.redis_cluster,
        policy_dir=str(policies),
    )
    client = await start_gateway(settings)
    assert not client.app.state.runtime.services.authorizer.engine.memoizable
    alice = caller(client, "alice", email="alice@gmail.com")
    for _ in range(3):
        assert (await alice.get("/v1/mcp-servers")).status_code == 200
    views = _of(await decision_records(client), "gateway/scope/view", "alice")
    assert len(views) == 3
    assert all("counter_gateway_memoized" not in r.metrics for r in views)


def test_the_key_leaves_out_the_request_id_and_nothing_else() -> None:
    with_id = b'{"action":"x","request":{"method":"GET","req_id":"r-1","path":"/a"}}'
    other_id = b'{"action":"x","request":{"method":"GET","req_id":"r-2","path":"/a"}}'
    other_path = b'{"action":"x","request":{"method":"GET","req_id":"r-3","path":"/b"}}'
    assert memo_key(with_id, "r-1") == memo_key(other_id, "r-2")
    assert memo_key(with_id, "r-1") != memo_key(other_path, "r-3")
    # A value that looks like the field inside a string stays: its quotes are escaped.
    tricky = b'{"name":"\\"req_id\\":\\"r-1\\"","request":{"req_id":"r-1"}}'
    assert memo_key(tricky, "r-1") == b'{"name":"\\"req_id\\":\\"r-1\\"","request":{}}'


def test_the_memo_is_bounded_and_forgets_on_a_new_revision() -> None:
    memo = DecisionMemo(max_bytes=160)
    for i in range(20):
        memo.put("rev1", "gateway/authz/decision", f"{i:010d}".encode(), {"allow": True})
    assert memo.get("rev1", "gateway/authz/decision", b"0000000019") == {"allow": True}
    assert memo.get("rev1", "gateway/authz/decision", b"0000000000") is None  # evicted
    assert memo.get("rev1", "gateway/scope/view", b"0000000019") is None  # per entrypoint
    assert memo.get("rev2", "gateway/authz/decision", b"0000000019") is None  # new policy


def test_what_makes_a_policy_unfit_to_memoize_is_named_with_its_line() -> None:
    modules = {
        "gateway/a.rego": "package gateway.a\n\nx if time.now_ns() > 0\n",
        "gateway/b.rego": 'package gateway.b\n\nmsg := "time.now_ns() in a string is fine"\n',
        "gateway/c.rego": "package gateway.c\n\ny := input.request.req_id\nz := input\n",
        "gateway/c_test.rego": "package gateway.c_test\n\nt if time.now_ns()\n",
        "system/log/mask.rego": "package system.log\n\nmask contains x if x := input\n",
    }
    assert memo_blockers(modules) == [
        "gateway/a.rego:3: time.now_ns reads the clock, randomness or the network",
        "gateway/c.rego:3: req_id reads the request id",
        "gateway/c.rego:4: input takes the input or input.request whole",
    ]
    shipped = {
        str(p.relative_to(REPO_POLICY_DIR)): p.read_text() for p in REPO_POLICY_DIR.rglob("*.rego")
    }
    assert memo_blockers(shipped) == []  # the shipped policy is memoized
