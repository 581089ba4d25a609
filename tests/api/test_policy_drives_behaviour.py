"""The gateway's behaviour is the policy's: change `policies/`, not Python. And any doubt
(engine error, malformed or undefined decision) fails closed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.config import REPO_POLICY_DIR, Settings
from tests.fixtures.gateway import JWT_SECRET, AppFactory, Caller, caller, join, token_for
from tests.fixtures.policies import minimal_policy

SERVER = {"name": "time", "transport": "stdio", "command": "uvx", "args": ["mcp-server-time"]}


def _policy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, target, ignore=shutil.ignore_patterns("*_test.rego"))
    return target


async def _alice(start_gateway: AppFactory, policy_dir: Path) -> Caller:
    app: AsyncTestClient[Litestar] = await start_gateway(
        Settings(jwt_secret=JWT_SECRET, policy_dir=str(policy_dir))
    )
    return Caller(app, token_for("alice"))


async def test_a_rule_forbidding_delete_changes_the_gateway(
    tmp_path: Path, start_gateway: AppFactory
) -> None:
    # One module dropped in, nothing else edited: a `deny` wins over the owner's grant.
    policies = _policy_copy(tmp_path)
    (policies / "freeze.rego").write_text(
        "package gateway.authz\n\n"
        'deny contains {"code": "change_freeze", "message": "deletes are frozen"} if {\n'
        '\tinput.action == "mcp_server.delete"\n}\n'
    )
    alice = await _alice(start_gateway, policies)
    url = f"/v1/mcp-servers/{(await alice.post('/v1/mcp-servers', json=SERVER)).json()['id']}"

    response = await alice.delete(url)

    assert response.status_code == 403, response.text
    body = response.json()
    assert body["reasons"] == [{"code": "change_freeze", "message": "deletes are frozen"}]
    assert body["decision_id"] == response.headers["x-decision-id"]
    assert (await alice.get(url)).status_code == 200  # still there


async def test_the_shipped_policy_allows_that_delete(
    tmp_path: Path, start_gateway: AppFactory
) -> None:
    alice = await _alice(start_gateway, _policy_copy(tmp_path))
    url = f"/v1/mcp-servers/{(await alice.post('/v1/mcp-servers', json=SERVER)).json()['id']}"
    assert (await alice.delete(url)).status_code == 204


# Well-formed for every action but creates (which the probe at load time does not ask).
_OTHERWISE = (
    'decision := {"allow": false, "visible": false, "reasons": []} '
    'if input.action != "mcp_server.create"\n'
)


async def test_a_malformed_decision_is_a_deny(tmp_path: Path, start_gateway: AppFactory) -> None:
    policies = minimal_policy(
        tmp_path,
        'decision := {"allow": "yes", "visible": true} if input.action == "mcp_server.create"\n'
        + _OTHERWISE,
    )
    alice = await _alice(start_gateway, policies)
    response = await alice.post("/v1/mcp-servers", json=SERVER)
    assert response.status_code == 404  # not a well-formed "visible": nothing is shown
    assert (await alice.get("/v1/mcp-servers")).json()["items"] == []


async def test_an_undefined_decision_is_a_deny(tmp_path: Path, start_gateway: AppFactory) -> None:
    alice = await _alice(start_gateway, minimal_policy(tmp_path, _OTHERWISE))
    assert (await alice.post("/v1/mcp-servers", json=SERVER)).status_code == 404


async def test_an_engine_error_is_a_503(tmp_path: Path, start_gateway: AppFactory) -> None:
    # Two values for one complete rule: a conflict error at evaluation time.
    policies = minimal_policy(
        tmp_path,
        'decision := {"allow": true, "visible": true, "reasons": []} '
        'if input.action == "mcp_server.create"\n'
        'decision := {"allow": false, "visible": true, "reasons": []} '
        'if input.action == "mcp_server.create"\n' + _OTHERWISE,
    )
    alice = await _alice(start_gateway, policies)
    response = await alice.post("/v1/mcp-servers", json=SERVER)
    assert response.status_code == 503, response.text
    assert "policy engine" in response.json()["detail"]


@pytest.mark.parametrize(
    ("authz", "why"),
    [
        ("decision := {\n", "authz.rego:3:13: this is unclosed"),  # does not compile: file and line
        ('decision := {"allow": "yes", "visible": true}\n', "answered"),  # wrong shape
        ('decision := 1 if input.action == "never"\n', "is not defined"),  # undefined
    ],
)
def test_a_policy_that_cannot_serve_stops_startup(tmp_path: Path, authz: str, why: str) -> None:
    from gateway.policy.embedded import EmbeddedRegoEngine
    from gateway.policy.sources import PolicyLoadError

    with pytest.raises(PolicyLoadError, match=why):
        EmbeddedRegoEngine(minimal_policy(tmp_path, authz))


def test_a_directory_pointed_a_level_too_deep_stops_startup() -> None:
    from gateway.policy.embedded import EmbeddedRegoEngine
    from gateway.policy.sources import PolicyLoadError

    with pytest.raises(PolicyLoadError, match="too deep"):
        EmbeddedRegoEngine(REPO_POLICY_DIR / "gateway")


async def test_the_scope_policy_decides_which_enterprise_servers_feed_the_view(
    tmp_path: Path, start_gateway: AppFactory
) -> None:
    policies = _policy_copy(tmp_path)
    scope = policies / "gateway" / "scope" / "view.rego"
    scope.write_text(
        scope.read_text().replace('"auto_enabled_only": true,\n}', '"auto_enabled_only": false,\n}')
    )
    app = await start_gateway(Settings(jwt_secret=JWT_SECRET, policy_dir=str(policies)))
    alice, bob = caller(app, "alice"), caller(app, "bob")
    ent = (await alice.post("/v1/enterprises", json={"name": "Acme"})).json()["id"]
    await join(alice, bob, ent, "member")
    plain = await alice.post(f"/v1/enterprise/mcp-servers?enterprise_id={ent}", json=SERVER)
    view = (await bob.get("/v1/mcp-servers")).json()["items"]
    assert [s["id"] for s in view] == [plain.json()["id"]]  # not auto-enabled, yet in view
