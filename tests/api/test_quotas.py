"""Quotas are policy data (data.gateway.quotas, issue 12): a security team lowers one in the
policy directory, and the gateway refuses what would go past it with `quota_exceeded`
naming the limit — for a create, a marketplace install, an enterprise server and an
invitation — while reads and everything under the quota go on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from gateway.config import REPO_POLICY_DIR, Settings
from tests.fixtures.gateway import AppFactory, caller, join
from tests.fixtures.opa_server import OPAServer

SERVER = {"name": "time", "transport": "stdio", "command": "uvx", "args": ["mcp-server-time"]}


def _policies_with(tmp_path: Path, **quotas: int) -> Path:
    policies = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, policies, ignore=shutil.ignore_patterns("*_test.rego"))
    data_file = policies / "gateway" / "data.json"
    data = json.loads(data_file.read_text())
    data["quotas"] |= quotas
    data_file.write_text(json.dumps(data))
    return policies


def _reasons(response: object) -> list[dict[str, str]]:
    return response.json()["reasons"]  # type: ignore[attr-defined,no-any-return]


async def test_quotas_from_policy_data_bite_where_they_should(
    tmp_path: Path,
    gateway_settings: Settings,
    start_gateway: AppFactory,
    opa_server: type[OPAServer],
) -> None:
    policies = _policies_with(
        tmp_path, personal_servers_per_user=2, servers_per_enterprise=1, seats_per_enterprise=2
    )
    # On the OPA pass, an OPA of its own serves the changed data.
    opa_url = opa_server(policies).url if gateway_settings.opa_url else None
    settings = Settings(
        jwt_secret=gateway_settings.jwt_secret,
        redis_url=gateway_settings.redis_url,
        redis_cluster=gateway_settings.redis_cluster,
        opa_url=opa_url,
        policy_dir=str(policies),
    )
    client = await start_gateway(settings)
    alice, bob, carol = (caller(client, u) for u in ("alice", "bob", "carol"))

    for _ in range(2):
        assert (await alice.post("/v1/mcp-servers", json=SERVER)).status_code == 201
    third = await alice.post("/v1/mcp-servers", json=SERVER)
    assert third.status_code == 403, third.text
    assert _reasons(third) == [
        {"code": "quota_exceeded", "message": "quota exceeded: at most 2 personal servers per user"}
    ]
    install = await alice.post("/v1/marketplace/servers/time/install")
    assert install.status_code == 403, install.text
    assert {r["code"] for r in _reasons(install)} == {"quota_exceeded"}
    assert len((await alice.get("/v1/mcp-servers")).json()["items"]) == 2  # nothing half-made
    assert (await bob.post("/v1/mcp-servers", json=SERVER)).status_code == 201  # per user

    ent = (await alice.post("/v1/enterprises", json={"name": "Acme"})).json()["id"]
    url = f"/v1/enterprise/mcp-servers?enterprise_id={ent}"
    assert (await alice.post(url, json=SERVER)).status_code == 201
    refused = await alice.post(url, json=SERVER)
    assert refused.status_code == 403
    assert _reasons(refused)[0]["message"] == "quota exceeded: at most 1 servers per enterprise"

    await join(alice, bob, ent, "member")  # seats: alice and bob
    invite = await alice.put(f"/v1/enterprises/{ent}/members/carol", json={"role": "member"})
    assert invite.status_code == 403, invite.text
    assert _reasons(invite)[0]["code"] == "quota_exceeded"
    assert (await carol.post(f"/v1/invitations/{ent}/accept")).status_code == 404
