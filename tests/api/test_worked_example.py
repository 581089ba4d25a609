"""The worked example of docs/policies.md, applied as the doc says: its Rego tests pass with
the shipped policy, and over HTTP it bites on create, update and install and shows on the
listings page (HTTP servers only on allow-listed hosts)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.config import REPO_POLICY_DIR, Settings
from gateway.policy.rego_tests import run_policy_tests
from tests.fixtures.gateway import JWT_SECRET, AppFactory, caller

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "allowed-hosts"


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    """The shipped policies with the example copied in, as docs/policies.md says."""
    target = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, target)
    shutil.copytree(EXAMPLE / "gateway", target / "gateway", dirs_exist_ok=True)
    return target


def test_the_example_and_the_shipped_tests_pass_together(policies: Path) -> None:
    results = run_policy_tests(policies)
    assert [r.full_name for r in results if not r.passed] == []
    assert (
        sum(
            r.location.startswith(str(policies / "gateway" / "authz" / "allowed_hosts"))
            for r in results
        )
        >= 6
    )


async def test_the_example_bites_on_create_update_install_and_the_listings_page(
    policies: Path, start_gateway: AppFactory
) -> None:
    app = await start_gateway(Settings(jwt_secret=JWT_SECRET, policy_dir=str(policies)))
    alice = caller(app, "alice")
    allowed = {
        "name": "gh",
        "transport": "streamable_http",
        "url": "https://api.githubcopilot.com/mcp/",
    }

    refused = await alice.post(
        "/v1/mcp-servers", json={**allowed, "url": "https://evil.example.net/mcp"}
    )
    assert refused.status_code == 403
    assert refused.json()["reasons"] == [
        {
            "code": "host_not_allowed",
            "message": "evil.example.net is not on the allow-list of MCP server hosts",
        }
    ]
    created = await alice.post("/v1/mcp-servers", json=allowed)
    assert created.status_code == 201, created.text
    url = f"/v1/mcp-servers/{created.json()['id']}"
    moved = await alice.patch(url, json={"url": "https://mcp.linear.app/mcp"})
    assert moved.status_code == 403 and moved.json()["reasons"][0]["code"] == "host_not_allowed"
    assert (await alice.patch(url, json={"url": "https://mcp.sentry.dev/mcp"})).status_code == 200

    page = (await alice.get("/v1/marketplace/servers?limit=500")).json()["items"]
    refused_listings = {i["id"] for i in page if not i["allowed"]}
    assert refused_listings == {
        "atlassian",
        "cloudflare-docs",
        "linear",
        "microsoft-learn",
        "supabase",
    }
    install = await alice.post("/v1/marketplace/servers/linear/install")
    assert install.status_code == 403 and install.json()["reasons"][0]["code"] == "host_not_allowed"
    assert (await alice.post("/v1/marketplace/servers/sentry/install")).status_code == 201
    assert (await alice.post("/v1/marketplace/servers/time/install")).status_code == 201  # stdio
