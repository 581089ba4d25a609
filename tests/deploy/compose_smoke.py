"""The compose stack's smoke test (scripts/compose-smoke runs it; not collected by pytest: it
needs the running stack). Everything goes through ports published on 127.0.0.1: each gateway
replica and HAProxy in front of them.

  compose_smoke.py first STATE    the README's policy story, a credential read back by a
                                  launch, a decision in the log, /metrics; writes STATE (ids)
  compose_smoke.py restarted STATE  after `down` + `up` on the same volumes: the server, the
                                  credential and the decision are still there

Environment: GATEWAY_JWT_SECRET (to mint tokens with `gateway token`), GATEWAY_METRICS_TOKEN,
SMOKE_REPLICAS (comma-separated base URLs, one per gateway), SMOKE_LB (HAProxy's base URL),
SMOKE_CONTAINERS (the gateway containers, whose logs must be JSON lines).
Any failed check raises: the script exits non-zero with the check's message."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

GATEWAY = str(Path(sys.executable).with_name("gateway"))
J = {"Content-Type": "application/json"}
ENV_VAR = "GITHUB_PERSONAL_ACCESS_TOKEN"


class SmokeFailure(Exception):
    pass


def check(condition: object, message: str, response: httpx.Response | None = None) -> None:
    if not condition:
        detail = f" -> {response.status_code} {response.text[:400]}" if response else ""
        raise SmokeFailure(message + detail)


def token(sub: str, *roles: str) -> str:
    args = [GATEWAY, "token", "--sub", sub, "--email", f"{sub}@example.com"]
    for role in roles:
        args += ["--role", role]
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()


def client(base: str, bearer: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {bearer}"}, timeout=15)


def wait_ready(bases: list[str], timeout: float = 240) -> None:
    """/readyz 200 on every replica and through HAProxy (OpenBao unseals, OPA loads the bundle)."""
    deadline = time.monotonic() + timeout
    for base in bases:
        last = "no answer"
        while True:
            try:
                response = httpx.get(f"{base}/readyz", timeout=5)
                if response.status_code == 200 and response.json().get("status") == "ready":
                    print(f"ready: {base}")
                    break
                last = f"{response.status_code} {response.text[:300]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            check(
                time.monotonic() < deadline, f"{base}/readyz not ready in {timeout:.0f} s: {last}"
            )
            time.sleep(1)


def decision(response: httpx.Response) -> str:
    decision_id = response.headers.get("x-decision-id")
    check(decision_id, "no X-Decision-Id", response)
    return str(decision_id)


def read_decision(auditor: httpx.Client, decision_id: str) -> dict[str, Any]:
    # The log's writer flushes in the background: give it a few seconds.
    deadline = time.monotonic() + 15
    while True:
        response = auditor.get(f"/v1/audit/decisions/{decision_id}")
        if response.status_code == 200:
            record: dict[str, Any] = response.json()
            return record
        check(time.monotonic() < deadline, f"decision {decision_id} not in the log", response)
        time.sleep(0.5)


def json_logs(containers: list[str]) -> None:
    for name in containers:
        out = subprocess.run(
            ["podman", "logs", "--tail", "20", name], capture_output=True, text=True, check=True
        )
        lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
        check(lines, f"{name}: no log lines")
        for line in lines:
            try:
                parsed = json.loads(line)
            except json.JSONDecodeError:
                raise SmokeFailure(f"{name}: a log line is not JSON: {line[:200]}") from None
            check(isinstance(parsed, dict), f"{name}: a log line is not an object: {line[:200]}")
        print(f"JSON logs: {name} ({len(lines)} lines read)")


def first(state_file: Path, replicas: list[str], lb: str) -> None:
    one, two = replicas[0], replicas[-1]
    alice, bob = token("alice"), token("bob")
    auditor = client(lb, token("ann", "auditor"))

    # Allowed: alice installs a personal server (through HAProxy).
    with client(lb, alice) as a:
        created = a.post(
            "/v1/mcp-servers",
            headers=J,
            json={
                "name": "github",
                "transport": "stdio",
                "command": "npx",
                "args": ["-y", "@modelcontextprotocol/server-github"],
                "env": [ENV_VAR],
            },
        )
        check(created.status_code == 201, "alice creates a server", created)
        server_id = created.json()["id"]
    print(f"created {server_id}")

    # Denied, invisible: bob asks for it on another replica.
    with client(two, bob) as b:
        hidden = b.get(f"/v1/mcp-servers/{server_id}")
        check(hidden.status_code == 404, "bob must not see alice's server", hidden)

    # Denied, visible: an enterprise server in bob's merged view that he may not change.
    with client(one, alice) as a, client(two, bob) as b:
        enterprise = a.post("/v1/enterprises", headers=J, json={"name": "Acme"})
        check(enterprise.status_code == 201, "alice creates an enterprise", enterprise)
        ent = enterprise.json()["id"]
        invited = a.put(f"/v1/enterprises/{ent}/members/bob", headers=J, json={"role": "member"})
        check(invited.status_code == 202, "alice invites bob", invited)
        accepted = b.post(f"/v1/invitations/{ent}/accept")
        check(accepted.status_code == 200, "bob accepts", accepted)
        managed = a.post(
            f"/v1/enterprise/mcp-servers?enterprise_id={ent}",
            headers=J,
            json={
                "name": "time",
                "transport": "stdio",
                "command": "uvx",
                "args": ["mcp-server-time"],
                "auto_enabled": True,
            },
        )
        check(managed.status_code == 201, "alice adds an auto-enabled server", managed)
        emcp = managed.json()["id"]
        view = b.get("/v1/mcp-servers")
        check(view.status_code == 200, "bob's merged view", view)
        sources = {item["id"]: item["source"] for item in view.json()["items"]}
        check(sources == {emcp: "enterprise"}, f"bob's merged view is {sources}", view)
        denied = b.patch(f"/v1/mcp-servers/{emcp}", headers=J, json={"enabled": False})
        check(denied.status_code == 403, "bob may not change a managed server", denied)
        codes = [reason["code"] for reason in denied.json()["reasons"]]
        check(codes == ["enterprise_managed"], f"the denial's reasons are {codes}", denied)
        denied_id = decision(denied)
    print(f"denied: {denied_id}")

    # A credential, written to OpenBao, read back by a launch on the other replica.
    value = "ghp_" + secrets.token_hex(16)
    with client(one, alice) as a:
        put = a.put(
            f"/v1/mcp-servers/{server_id}/credentials", headers=J, json={"values": {ENV_VAR: value}}
        )
        check(put.status_code == 200, "alice sets a credential", put)
        check(put.json()["credentials_set"] == [ENV_VAR], "credentials_set", put)
        check(value not in put.text, "the secret is never echoed", put)
    launch_of(two, alice, server_id, value)

    record = read_decision(auditor, denied_id)
    check(record["allowed"] is False, f"the record's allowed is {record['allowed']}")
    check(record["action"] == "mcp_server.update", f"the record's action is {record['action']}")
    print(f"decision in the log: {denied_id} ({record['action']}, allowed false)")

    metrics_everywhere(replicas)
    state = {"server": server_id, "emcp": emcp, "value": value, "decision": denied_id}
    state_file.write_text(json.dumps(state))


def launch_of(base: str, bearer: str, server_id: str, value: str) -> None:
    with client(base, bearer) as c:
        launch = c.get(f"/v1/mcp-servers/{server_id}/launch")
        check(launch.status_code == 200, "the launch", launch)
        config = launch.json()
        check(config["env"] == {ENV_VAR: value}, "the launch resolves the secret from OpenBao")
        check(config["missing_env"] == [], f"missing_env is {config['missing_env']}")
    print(f"launch on {base}: the credential read from OpenBao")


def metrics_everywhere(replicas: list[str]) -> None:
    metrics_token = os.environ["GATEWAY_METRICS_TOKEN"]
    for base in replicas:
        anonymous = httpx.get(f"{base}/metrics", timeout=10)
        check(anonymous.status_code == 401, "/metrics without the token", anonymous)
        scraped = httpx.get(
            f"{base}/metrics", headers={"Authorization": f"Bearer {metrics_token}"}, timeout=10
        )
        check(scraped.status_code == 200, "/metrics with the token", scraped)
        check("# TYPE" in scraped.text, "/metrics is Prometheus text", scraped)
    print(f"/metrics: 401 without the token, 200 with it on {len(replicas)} replicas")


def restarted(state_file: Path, replicas: list[str], lb: str) -> None:
    state = json.loads(state_file.read_text())
    alice, bob = token("alice"), token("bob")
    with client(lb, alice) as a:
        server = a.get(f"/v1/mcp-servers/{state['server']}")
        check(server.status_code == 200, "alice's server after the restart", server)
        check(server.json()["credentials_set"] == [ENV_VAR], "credentials_set kept", server)
    for base in replicas:
        launch_of(base, alice, state["server"], state["value"])
    with client(replicas[0], bob) as b:
        view = b.get("/v1/mcp-servers")
        check([i["id"] for i in view.json()["items"]] == [state["emcp"]], "bob's view", view)
    auditor = client(lb, token("ann", "auditor"))
    record = read_decision(auditor, state["decision"])
    check(record["allowed"] is False, "the decision after the restart")
    kept = f"server {state['server']}, its credential, decision {record['decision_id']}"
    print(f"after the restart: {kept}")


def main() -> None:
    phase, state_file = sys.argv[1], Path(sys.argv[2])
    replicas = os.environ["SMOKE_REPLICAS"].split(",")
    lb = os.environ["SMOKE_LB"]
    wait_ready([*replicas, lb])
    if phase == "first":
        first(state_file, replicas, lb)
    elif phase == "restarted":
        restarted(state_file, replicas, lb)
    else:
        raise SystemExit(f"unknown phase {phase!r}: first or restarted")
    json_logs(os.environ["SMOKE_CONTAINERS"].split(","))


if __name__ == "__main__":
    try:
        main()
    except SmokeFailure as exc:
        print(f"SMOKE TEST FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
