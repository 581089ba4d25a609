"""A client generated from the live OpenAPI document works: what an app team does — fetch
/schema/openapi.json from a running gateway, run openapi-python-client on it — and then the
README's "Exercise the policy" story through the generated client's typed functions and models.

Typed attributes only, never the raw JSON: a field the document names wrongly, a required one
the gateway leaves out, a status it does not list or a field it answers but the document does
not declare (`additional_properties`) fails here. In the OPA pass the gateway asks a real OPA.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.fixtures.gateway import token_for
from tests.fixtures.live_gateway import live_gateway

# What openapi-python-client 0.29 reports about the document that is no fault of it: it has no
# parser for application/x-ndjson, so the audit export's 200 has no typed model (the function
# is generated; an app reads the stream from `sync_detailed(...).content`).
ACCEPTED_WARNINGS = re.compile(
    r"WARNING parsing GET /v1/audit/decisions/export within audit\.\n\n"
    r"Cannot parse response for status code [^\n]*\(Unsupported content_type "
    r"application/x-ndjson\)[^\n]*\n\n"
    r"\{\n(?:  [^\n]*\n)*\}\n\n"
)
FRAME = (  # the lines around any list of warnings
    "Warning(s) encountered while generating. Client was generated, but some pieces may be missing",
    "If you believe this was a mistake or this tool is missing a feature you need",
)


@dataclass
class Generated:
    base_url: str
    package: str
    stderr: str

    def module(self, name: str) -> Any:
        imported: ModuleType = importlib.import_module(f"{self.package}.{name}")
        return imported

    def client_as(self, user: str) -> Any:
        # An undocumented status raises instead of parsing to None.
        return self.module("client").AuthenticatedClient(
            base_url=self.base_url,
            token=token_for(user),
            raise_on_unexpected_status=True,
            timeout=httpx.Timeout(10),
        )


@pytest.fixture(scope="module")
def generated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Generated]:
    """One generation for the module, from the schema the running gateway serves (not
    docs/openapi.json), into a package name no other module has."""
    env = {}
    if request.config.getoption("--engine") == "opa":
        env["GATEWAY_OPA_URL"] = request.getfixturevalue("opa_url")
    workdir = tmp_path_factory.mktemp("generated_client")
    package = f"gateway_client_{uuid.uuid4().hex[:12]}"
    with live_gateway(workdir, **env) as gateway:
        schema = httpx.get(f"{gateway.base_url}/schema/openapi.json", timeout=10)
        assert schema.status_code == 200
        (workdir / "openapi.json").write_bytes(schema.content)
        (workdir / "config.yaml").write_text(
            f"package_name_override: {package}\nproject_name_override: {package}\n"
        )
        bin_dir = Path(sys.executable).parent
        done = subprocess.run(
            [
                str(bin_dir / "openapi-python-client"),
                "generate",
                "--path",
                str(workdir / "openapi.json"),
                "--output-path",
                str(workdir / package),
                "--meta",
                "none",
                "--config",
                str(workdir / "config.yaml"),
            ],
            # Its post hooks (ruff) run from PATH, as on an app team's machine.
            env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        sys.path.insert(0, str(workdir))
        try:
            yield Generated(gateway.base_url, package, done.stderr)
        finally:
            sys.path.remove(str(workdir))
            for name in [n for n in sys.modules if n.split(".")[0] == package]:
                del sys.modules[name]


def undeclared(model: Any) -> dict[str, Any]:
    """Fields the gateway answered that the document does not declare for this model."""
    return dict(getattr(model, "additional_properties", {}))


def test_generation_reports_nothing_wrong_with_the_document(generated: Generated) -> None:
    leftover = ACCEPTED_WARNINGS.sub("", generated.stderr)
    leftover = "\n".join(
        line for line in leftover.splitlines() if line.strip() and not line.startswith(FRAME)
    )
    assert leftover == ""


def test_the_readme_story_runs_through_typed_calls(generated: Generated) -> None:
    models = generated.module("models")
    create_server = generated.module("api.mcp_servers.v1_mcp_servers_create_server")
    get_server = generated.module("api.mcp_servers.v1_mcp_servers_server_id_get_server")
    update_server = generated.module("api.mcp_servers.v1_mcp_servers_server_id_update_server")
    create_enterprise = generated.module("api.enterprises.v1_enterprises_create_enterprise")
    put_member = generated.module(
        "api.enterprises.v1_enterprises_enterprise_id_members_user_id_put_member"
    )
    accept = generated.module("api.invitations.v1_invitations_enterprise_id_accept_accept")
    approve = generated.module("api.enterprise_mcp_servers.v1_enterprise_mcp_servers_create_server")
    update_approved = generated.module(
        "api.enterprise_mcp_servers.v1_enterprise_mcp_servers_server_id_update_server"
    )
    alice, bob = generated.client_as("alice"), generated.client_as("bob")

    # Allowed: alice installs a personal server and reads it back, field for field.
    created = create_server.sync_detailed(
        client=alice,
        body=models.ServerCreate(
            name="github",
            transport=models.ServerCreateTransport.STDIO,
            command="npx",
            args=["-y", "@modelcontextprotocol/server-github"],
            env=["GITHUB_PERSONAL_ACCESS_TOKEN"],
        ),
    )
    assert created.status_code == 201
    server = created.parsed
    assert (server.source, server.name, server.user_id) == ("personal", "github", "alice")
    assert (server.command, server.args) == ("npx", ["-y", "@modelcontextprotocol/server-github"])
    assert (server.env, server.enabled, server.credentials_set) == (
        ["GITHUB_PERSONAL_ACCESS_TOKEN"],
        True,
        [],
    )
    assert server.created_at == server.updated_at
    assert undeclared(server) == {}
    assert created.headers["location"] == f"/v1/mcp-servers/{server.id}"

    read = get_server.sync_detailed(server.id, client=alice)
    assert read.status_code == 200
    assert read.parsed == server

    # Denied, invisible: bob is told alice's server does not exist.
    hidden = get_server.sync_detailed(server.id, client=bob)
    assert hidden.status_code == 404
    assert (hidden.parsed.status_code, hidden.parsed.detail) == (
        404,
        f"MCP server {server.id} not found",
    )
    assert undeclared(hidden.parsed) == {}

    # Denied, visible: bob joins alice's enterprise, sees its auto-enabled server and may not
    # change it — a 403 with the policy's reasons and the decision to look up.
    enterprise = create_enterprise.sync_detailed(
        client=alice, body=models.EnterpriseCreate(name="Acme")
    ).parsed
    assert (enterprise.name, enterprise.kind.value, str(enterprise.role)) == (
        "Acme",
        "organization",
        "owner",
    )
    assert undeclared(enterprise) == {}
    invited = put_member.sync_detailed(
        enterprise.id,
        "bob",
        client=alice,
        body=models.MemberPut(role=models.MemberPutRole.MEMBER),
    )
    assert invited.status_code == 202
    assert (invited.parsed.user_id, str(invited.parsed.status)) == ("bob", "invited")
    joined = accept.sync_detailed(enterprise.id, client=bob)
    assert joined.status_code == 200
    assert (joined.parsed.user_id, str(joined.parsed.role), str(joined.parsed.status)) == (
        "bob",
        "member",
        "active",
    )
    approved = approve.sync_detailed(
        client=alice,
        enterprise_id=enterprise.id,
        body=models.EnterpriseServerCreate(
            name="time",
            transport=models.EnterpriseServerCreateTransport.STDIO,
            command="uvx",
            args=["mcp-server-time"],
            auto_enabled=True,
        ),
    )
    assert approved.status_code == 201
    managed = approved.parsed
    assert (managed.source, managed.enterprise_id, managed.auto_enabled) == (
        "enterprise",
        enterprise.id,
        True,
    )
    assert undeclared(managed) == {}

    seen = get_server.sync_detailed(managed.id, client=bob)
    assert seen.status_code == 200
    assert type(seen.parsed) is type(managed)  # the union parses to the enterprise model
    assert (seen.parsed.id, seen.parsed.source) == (managed.id, "enterprise")

    denied = update_server.sync_detailed(
        managed.id, client=bob, body=models.ServerPatch(enabled=False)
    )
    assert denied.status_code == 403
    denial = denied.parsed
    assert denial.status_code == 403
    assert denial.decision_id == denied.headers["x-decision-id"]
    assert [(r.code, r.message) for r in denial.reasons] == [
        (
            "enterprise_managed",
            f"{managed.id} is managed by enterprise {enterprise.id}: members cannot change "
            "it; owners and admins manage it through /v1/enterprise/mcp-servers",
        )
    ]
    assert undeclared(denial) == {} and all(undeclared(r) == {} for r in denial.reasons)

    # The same member through the enterprise endpoint: the role reason.
    refused = update_approved.sync_detailed(
        managed.id, client=bob, body=models.EnterpriseServerPatch(enabled=False)
    )
    assert refused.status_code == 403
    assert [r.code for r in refused.parsed.reasons] == ["role_required"]
    assert refused.parsed.decision_id == refused.headers["x-decision-id"]


def test_list_pages_have_typed_items(generated: Generated) -> None:
    models = generated.module("models")
    list_servers = generated.module("api.mcp_servers.v1_mcp_servers_list_servers")
    alice = generated.client_as("page-reader")
    create = generated.module("api.mcp_servers.v1_mcp_servers_create_server")
    body = models.ServerCreate(
        name="fetch", transport=models.ServerCreateTransport.STDIO, command="uvx"
    )
    assert create.sync_detailed(client=alice, body=body).status_code == 201

    page = list_servers.sync_detailed(client=alice).parsed
    assert [(item.name, item.source) for item in page.items] == [("fetch", "personal")]
