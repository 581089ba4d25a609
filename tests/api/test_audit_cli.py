"""`gateway audit query|export|verify` and `gateway policy replay` on a log a gateway wrote
to Redis: verify passes on the intact chain and names the record after an edit or a delete
made in Redis directly; replay of a candidate that forbids members reading enterprise
servers lists exactly the member reads that were allowed."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis.asyncio as aredis

from gateway.cli import main
from gateway.config import REPO_POLICY_DIR, Settings
from gateway.stores.redis import keys as k
from tests.fixtures.gateway import JWT_SECRET, AppFactory, caller, decision_records, join, token_for
from tests.fixtures.live_gateway import live_gateway

ON_REDIS = pytest.mark.parametrize("store_mode", ["redis"], indirect=True)

MANAGED = {
    "name": "github",
    "transport": "streamable_http",
    "url": "https://mcp.example.com/mcp",
    "auto_enabled": True,
}
MEMBERS_MAY_NOT_READ = """package gateway.authz

deny contains {"code": "members_may_not_read", "message": "members may not read these"} if {
	input.action in {"mcp_server.read", "enterprise_server.read"}
	input.resource.enterprise_id
	input.subject.memberships[input.resource.enterprise_id].role == "member"
}
"""


async def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, gateway_settings: Settings) -> None:
    assert gateway_settings.redis_url
    monkeypatch.setenv("GATEWAY_REDIS_URL", gateway_settings.redis_url)
    monkeypatch.setenv("GATEWAY_JWT_SECRET", JWT_SECRET)


async def _scenario(gateway_settings: Settings, start_gateway: AppFactory) -> dict[str, Any]:
    gateway = await start_gateway(gateway_settings)
    alice, bob = caller(gateway, "alice"), caller(gateway, "bob")
    ent = (await alice.post("/v1/enterprises", json={"name": "Acme"})).json()["id"]
    await join(alice, bob, ent, "member")
    server = await alice.post(f"/v1/enterprise/mcp-servers?enterprise_id={ent}", json=MANAGED)
    server_id = server.json()["id"]
    for who in (alice, bob, bob):
        assert (await who.get(f"/v1/mcp-servers/{server_id}")).status_code == 200
        assert (await who.get(f"/v1/enterprise/mcp-servers/{server_id}")).status_code == 200
    denied = await bob.patch(f"/v1/mcp-servers/{server_id}", json={"name": "mine"})
    assert denied.status_code == 403
    return {
        "ent": ent,
        "server": server_id,
        "denial": denied.headers["x-decision-id"],
        "records": await decision_records(gateway),
    }


@ON_REDIS
async def test_query_export_and_verify(
    gateway_settings: Settings,
    start_gateway: AppFactory,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    seen = await _scenario(gateway_settings, start_gateway)

    code, out, _ = await _cli(capsys, "audit", "query", "--user", "bob", "--allowed", "false")
    assert code == 0
    header, first = out.splitlines()[:2]
    assert header.split()[:4] == ["time", "decision_id", "user", "action"]
    assert seen["denial"] in first and "enterprise_managed" in first and "PATCH 403" in first
    # Issue 24: the reason's message and the server's name, not codes and ids only.
    assert "github" in first and "enterprise_managed: " in first
    assert header.split()[4:6] == ["resource", "name"]

    code, out, _ = await _cli(capsys, "audit", "show", seen["denial"])
    assert code == 0, out
    shown = dict(line.split(None, 1) for line in out.splitlines()[:13])
    assert (shown["decision"], shown["subject"], shown["allowed"]) == (seen["denial"], "bob", "NO")
    assert shown["reasons"].startswith("enterprise_managed: ")
    assert shown["chain"].startswith("seq ") and shown["policy"] != "-"
    code, _, err = await _cli(capsys, "audit", "show", "no-such-decision")
    assert code == 2 and "not found" in err
    code, out, _ = await _cli(capsys, "audit", "query", "--user", "bob", "--since", "today")
    assert code == 0 and seen["denial"] in out

    code, out, _ = await _cli(capsys, "audit", "query", "--user", "bob", "--json", "--limit", "3")
    assert code == 0 and len(out.splitlines()) == 3
    assert {msgspec.json.decode(line)["subject_id"] for line in out.splitlines()} == {"bob"}

    code, out, err = await _cli(capsys, "audit", "export", "--since", "1h")
    assert code == 0 and err.strip() == f"{len(seen['records'])} records"
    exported = tmp_path / "log.ndjson"
    exported.write_text(out)
    assert [msgspec.json.decode(line)["decision_id"] for line in out.splitlines()] == [
        r.decision_id for r in seen["records"]
    ]

    code, out, _ = await _cli(capsys, "audit", "verify")
    assert code == 0 and out.startswith(f"ok: {len(seen['records'])} records"), out
    code, out, _ = await _cli(capsys, "audit", "verify", "--file", str(exported))
    assert code == 0, out

    # Bad arguments: one line naming what is wrong, exit 2.
    code, _, err = await _cli(capsys, "audit", "query", "--since", "yesterday")
    assert code == 2 and "--since" in err
    code, _, err = await _cli(capsys, "audit", "verify", "--file", str(tmp_path / "nope"))
    assert code == 2 and "nope" in err


@ON_REDIS
async def test_verify_names_the_record_edited_or_deleted_in_redis(
    gateway_settings: Settings,
    start_gateway: AppFactory,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen = await _scenario(gateway_settings, start_gateway)
    denial = next(r for r in seen["records"] if r.decision_id == seen["denial"])
    client = aredis.Redis.from_url(gateway_settings.redis_url or "")
    try:
        entries = await client.xrange(k.AUDIT_LOG)
        await client.delete(k.AUDIT_LOG)
        for entry_id, fields in entries:  # rebuilt with the denial turned into an allow
            if entry_id == f"0-{denial.seq}".encode():
                doc = msgspec.json.decode(fields[b"r"])
                doc["allowed"] = True
                fields = {**fields, b"r": msgspec.json.encode(doc)}
            await client.xadd(k.AUDIT_LOG, fields, id=entry_id)
        code, out, _ = await _cli(capsys, "audit", "verify")
        assert code == 1
        assert f"record {denial.seq} ({denial.decision_id}) was altered" in out, out

        removed = seen["records"][3]
        await client.delete(k.AUDIT_LOG)
        for entry_id, fields in entries:  # rebuilt as it was, but for one record
            if entry_id != f"0-{removed.seq}".encode():
                await client.xadd(k.AUDIT_LOG, fields, id=entry_id)
    finally:
        await client.aclose()
    code, out, _ = await _cli(capsys, "audit", "verify")
    assert code == 1 and f"record {removed.seq} was removed" in out, out


def _candidate(tmp_path: Path) -> Path:
    root = tmp_path / "candidate"
    shutil.copytree(REPO_POLICY_DIR, root)
    (root / "gateway" / "authz" / "members_may_not_read.rego").write_text(MEMBERS_MAY_NOT_READ)
    return root


@ON_REDIS
async def test_replay_lists_exactly_the_member_reads_a_candidate_forbids(
    gateway_settings: Settings,
    start_gateway: AppFactory,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    seen = await _scenario(gateway_settings, start_gateway)
    reads = {"mcp_server.read", "enterprise_server.read"}
    expected = {
        r.decision_id
        for r in seen["records"]
        if r.subject_id == "bob" and r.action in reads and r.allowed
    }
    assert len(expected) == 4  # two reads of each kind

    candidate = _candidate(tmp_path)
    code, out, err = await _cli(capsys, "policy", "replay", "--candidate", str(candidate), "--json")
    assert code == 0, err
    report = msgspec.json.decode(out)
    assert {f["decision_id"] for f in report["flips"]} == expected
    assert {f["change"] for f in report["flips"]} == {"lost"}
    assert {f["reasons"][0] for f in report["flips"]} == {"members_may_not_read"}
    assert report["by_action"] == {
        "mcp_server.read": {"gained": 0, "lost": 2},
        "enterprise_server.read": {"gained": 0, "lost": 2},
    }
    assert report["replayed"] == len(seen["records"]) and report["skipped"] == 0

    # The same from an export, and as the table people read.
    code, exported, _ = await _cli(capsys, "audit", "export")
    (tmp_path / "log.ndjson").write_text(exported)
    code, out, _ = await _cli(
        capsys,
        "policy",
        "replay",
        "--candidate",
        str(candidate),
        "--from",
        str(tmp_path / "log.ndjson"),
    )
    assert code == 0
    assert "4 would flip" in out and "mcp_server.read" in out
    assert sum("LOST" in line for line in out.splitlines()) == 4

    # The shipped policy against its own log: nothing flips.
    code, out, _ = await _cli(
        capsys, "policy", "replay", "--candidate", str(REPO_POLICY_DIR), "--json"
    )
    assert code == 0 and msgspec.json.decode(out)["flips"] == []

    broken = tmp_path / "broken"
    shutil.copytree(candidate, broken)
    (broken / "gateway" / "authz" / "members_may_not_read.rego").write_text(
        "package gateway.authz\ndeny contains"
    )
    code, _, err = await _cli(capsys, "policy", "replay", "--candidate", str(broken))
    assert code == 2 and "members_may_not_read.rego" in err


# A `gateway serve` process (live_gateway) always runs the embedded engine, whatever `--engine`
# says: the OPA pass would repeat it as it is (tests/conftest.py skips it there).
@pytest.mark.engine_independent
async def test_the_cli_reads_through_the_api_as_the_policy_allows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    auditor = token_for("ann", email="ann@example.com", roles=("auditor",))
    with live_gateway(tmp_path) as gateway:  # the memory log: only the API reaches it
        with gateway.client("bob") as bob:
            assert bob.get("/v1/mcp-servers").status_code == 200
        code, out, err = await _cli(
            capsys, "audit", "query", "--url", gateway.base_url, "--token", auditor, "--user", "bob"
        )
        assert code == 0, err
        assert "scope.view" in out
        code, out, _ = await _cli(
            capsys, "audit", "verify", "--url", gateway.base_url, "--token", auditor
        )
        assert code == 0 and out.startswith("ok:"), out
        bobs = token_for("bob", email="bob@example.com")
        code, _, err = await _cli(
            capsys, "audit", "export", "--url", gateway.base_url, "--token", bobs
        )
        assert code == 2 and "403" in err
