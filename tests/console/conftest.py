"""The console's fixtures: a gateway (memory stores, the embedded engine) with a candidate
policy directory for replays, and a scenario with a denial of bob's to find."""

from __future__ import annotations

import shutil
from pathlib import Path

from gateway.config import REPO_POLICY_DIR

MANAGED = {"name": "github", "transport": "streamable_http", "url": "https://mcp.example.com/mcp"}
MEMBERS_MAY_NOT_READ = """package gateway.authz

deny contains {"code": "members_may_not_read", "message": "members may not read these"} if {
	input.action in {"mcp_server.read", "enterprise_server.read"}
	input.resource.enterprise_id
	input.subject.memberships[input.resource.enterprise_id].role == "member"
}
"""


def candidates(tmp_path: Path) -> Path:
    """A directory of candidate policy directories: `stricter` forbids members reading."""
    root = tmp_path / "candidates"
    stricter = root / "stricter"
    shutil.copytree(REPO_POLICY_DIR, stricter, ignore=shutil.ignore_patterns("*_test.rego"))
    (stricter / "gateway" / "authz" / "members_may_not_read.rego").write_text(MEMBERS_MAY_NOT_READ)
    return root
