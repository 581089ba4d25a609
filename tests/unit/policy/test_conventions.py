"""A reload refuses two mistakes that compile on rego-cpp and still serve the wrong thing
(gateway/policy/conventions.py): a grant still named `allow` (it grants nothing since
ADR 0050), and a package annotated twice (OPA refuses that bundle; the engines would differ)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.config import REPO_POLICY_DIR
from gateway.policy.conventions import convention_problems, package_annotations, rule_heads
from gateway.policy.embedded import compile_policy
from gateway.policy.sources import PolicyLoadError
from tests.fixtures.opa_server import opa_binary

STALE_GRANT = """package gateway.authz

# Written before ADR 0050: meant to let auditors read servers.
allow if {
	input.action == "mcp_server.read"
	"auditor" in input.subject.roles
}
"""

SECOND_PACKAGE_BLOCK = """# METADATA
# title: Our team's bans
package gateway.authz

deny contains {"code": "no_shell", "message": "no shells"} if input.proposed.command == "sh"
"""


def _with(tmp_path: Path, name: str, text: str) -> Path:
    root = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, root, ignore=shutil.ignore_patterns("*_test.rego"))
    (root / "gateway" / "authz" / name).write_text(text)
    return root


def test_the_shipped_policies_keep_the_conventions() -> None:
    modules = {str(p): p.read_text() for p in Path(REPO_POLICY_DIR).rglob("*.rego")}
    assert convention_problems(modules) == []


def test_a_grant_still_named_allow_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError, match=r"team\.rego:4: `allow` in package gateway\.authz"):
        compile_policy(_with(tmp_path, "team.rego", STALE_GRANT))


def test_a_package_annotated_twice_is_refused_naming_both_places(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError) as refused:
        compile_policy(_with(tmp_path, "team.rego", SECOND_PACKAGE_BLOCK))
    assert "team.rego:1: package gateway.authz is already annotated" in str(refused.value)
    assert "decision.rego:1" in str(refused.value)


def test_the_same_module_annotated_on_a_rule_is_taken(tmp_path: Path) -> None:
    on_a_rule = SECOND_PACKAGE_BLOCK.replace(
        "# METADATA\n# title: Our team's bans\npackage gateway.authz\n",
        "package gateway.authz\n\n# METADATA\n# title: Our team's bans",
    )
    compile_policy(_with(tmp_path, "team.rego", on_a_rule))


@pytest.mark.opa
def test_opa_refuses_the_package_annotated_twice_too(tmp_path: Path) -> None:
    """The reason for the rule: the same directory on a real OPA does not load."""
    binary = opa_binary()
    if binary is None:
        pytest.skip("the real OPA is not built here")
    root = _with(tmp_path, "team.rego", SECOND_PACKAGE_BLOCK)
    checked = subprocess.run([binary, "check", str(root)], capture_output=True, text=True)
    assert checked.returncode != 0 and "annotation" in checked.stderr + checked.stdout


def test_rule_heads_and_package_blocks_are_read_from_the_syntax() -> None:
    text = (
        "# METADATA\n# title: t\npackage p\n\n"
        'default allow := false\n\nx := {"allow": true,\n  "y": 1}\n\n'
        "# METADATA\n# scope: package\n# title: again\nz if {\n\tallow := 1\n}\n"
    )
    assert sorted(rule_heads(text)) == [("allow", 5), ("x", 7), ("z", 13)]
    assert package_annotations(text) == [1, 10]
