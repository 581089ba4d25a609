"""A security engineer's day, against a real gateway process: copy the policy directory, drop
in a deny rule that reads `proposed` fields (with its data), and see it bite on create,
update and install and show on the listings page; then edit it while the gateway runs
(in force within 5 seconds, no restart) and break it (the last good revision keeps
serving, and /readyz names the file and line)."""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from gateway.config import REPO_POLICY_DIR
from tests.fixtures.live_gateway import live_gateway

# A `gateway serve` process (live_gateway) always runs the embedded engine (here on a policy
# directory of its own), whatever `--engine` says: the OPA pass would repeat it as it is
# (tests/conftest.py skips it there).
pytestmark = pytest.mark.engine_independent

RULE = """package gateway.authz

deny contains {"code": "banned_command", "message": concat("", [
	"servers may not run ", input.proposed.command,
])} if {
	input.proposed.transport == "stdio"
	input.proposed.command in data.gateway.rules.banned_commands
}
"""
SHELL = {"name": "shell", "transport": "stdio", "command": "bash", "args": ["-c", "id"]}
TIME = {"name": "time", "transport": "stdio", "command": "uvx", "args": ["mcp-server-time"]}
RELOAD_WITHIN_SECONDS = 5.0


def _eventually(check: Callable[[], bool]) -> float:
    """Seconds until `check()` held; fails after the 5 s the rollout promises."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > RELOAD_WITHIN_SECONDS:
            raise AssertionError(f"not in force after {RELOAD_WITHIN_SECONDS} s")
        time.sleep(0.1)
    return time.monotonic() - started


def _codes(response: httpx.Response) -> set[str]:
    return {r["code"] for r in response.json().get("reasons", [])}


def _allowed(client: httpx.Client, listing: str) -> bool:
    body = client.get(f"/v1/marketplace/servers/{listing}").json()
    return bool(body["allowed"])


def test_a_deny_rule_rolls_out_bites_everywhere_and_survives_a_broken_edit(
    tmp_path: Path,
) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, policies, ignore=shutil.ignore_patterns("*_test.rego"))
    rules = policies / "gateway" / "rules"
    rules.mkdir()
    (rules / "data.json").write_text(json.dumps({"banned_commands": ["bash", "sh", "docker"]}))
    (rules / "banned_commands.rego").write_text(RULE)

    with live_gateway(tmp_path, GATEWAY_POLICY_DIR=str(policies)) as gateway:
        alice = gateway.client("alice")

        # Create: refused with the rule's reason.
        created = alice.post("/v1/mcp-servers", json=SHELL)
        assert created.status_code == 403, created.text
        assert created.json()["reasons"] == [
            {"code": "banned_command", "message": "servers may not run bash"}
        ]
        # Update: the proposed state is judged, not the stored one.
        fine = alice.post("/v1/mcp-servers", json=TIME)
        assert fine.status_code == 201, fine.text
        url = f"/v1/mcp-servers/{fine.json()['id']}"
        assert _codes(alice.patch(url, json={"command": "sh"})) == {"banned_command"}
        assert alice.get(url).json()["command"] == "uvx"
        # Install: the github listing runs docker; the listings page says so beforehand.
        listing = alice.get("/v1/marketplace/servers/github").json()
        assert listing["allowed"] is False
        assert listing["reason"]["code"] == "banned_command"
        assert _codes(alice.post("/v1/marketplace/servers/github/install")) == {"banned_command"}
        page = alice.get("/v1/marketplace/servers?limit=500").json()["items"]
        banned = {item["id"] for item in page if not item["allowed"]}
        assert banned == {"github", "terraform"}  # the catalog's docker listings

        revision = alice.get("/readyz").json()["policy"]["revision"]

        # Edit the rule's data while it runs: docker is allowed again within 5 seconds.
        (rules / "data.json").write_text(json.dumps({"banned_commands": ["bash", "sh"]}))
        _eventually(lambda: _allowed(alice, "github"))
        assert alice.get("/readyz").json()["policy"]["revision"] != revision
        assert alice.post("/v1/marketplace/servers/github/install").status_code == 201
        assert alice.post("/v1/mcp-servers", json=SHELL).status_code == 403

        # A broken edit is rejected: the previous behaviour stays in force.
        good = alice.get("/readyz").json()["policy"]["revision"]
        (rules / "banned_commands.rego").write_text(RULE.replace("if {", "if {{", 1))

        def rejected() -> bool:
            status = alice.get("/readyz").json()["policy"]
            return status["last_rejected"] is not None

        _eventually(rejected)
        ready = alice.get("/readyz")
        assert ready.status_code == 200
        status = ready.json()["policy"]
        assert status["revision"] == good
        assert "banned_commands.rego:" in status["last_rejected"]["error"]
        assert alice.post("/v1/mcp-servers", json=SHELL).status_code == 403
        assert _allowed(alice, "terraform")
        assert "policy change rejected" in gateway.output()

        metrics = alice.get("/metrics").text
        assert 'gateway_policy_rejected_reloads_total{engine="embedded"} 1.0' in metrics

        # Fixed: in force again, and the rejection is cleared (it was: it stayed on record
        # after the fix, so /readyz showed an error that no longer was).
        (rules / "banned_commands.rego").write_text(RULE)
        (rules / "data.json").write_text(json.dumps({"banned_commands": ["bash"]}))
        _eventually(lambda: _status(alice.post("/v1/mcp-servers", json={**SHELL, "command": "sh"})))
        assert alice.get("/readyz").json()["policy"]["last_rejected"] is None


def _status(response: httpx.Response, expected: int = 201) -> bool:
    return response.status_code == expected


def test_sighup_rolls_out_when_polling_is_off(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, policies, ignore=shutil.ignore_patterns("*_test.rego"))
    with live_gateway(
        tmp_path, GATEWAY_POLICY_DIR=str(policies), GATEWAY_POLICY_POLL_SECONDS="0"
    ) as gateway:
        alice = gateway.client("alice")
        assert alice.post("/v1/mcp-servers", json=SHELL).status_code == 201
        rules = policies / "gateway" / "rules"
        rules.mkdir()
        (rules / "data.json").write_text(json.dumps({"banned_commands": ["bash"]}))
        (rules / "banned_commands.rego").write_text(RULE)
        time.sleep(1.5)  # polling is off: nothing happens on its own
        assert alice.post("/v1/mcp-servers", json=SHELL).status_code == 201
        gateway.proc.send_signal(signal.SIGHUP)
        _eventually(lambda: _status(alice.post("/v1/mcp-servers", json=SHELL), 403))
        assert "reloading the policy directory" in gateway.output()
