"""`gateway policy check | eval | test`: what a security team runs before rolling out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import REPO_POLICY_DIR


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, target)
    return target


def test_check_accepts_the_shipped_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(REPO_POLICY_DIR)]) == 0
    assert "every entrypoint defined" in capsys.readouterr().out


def test_check_names_file_line_and_column(
    policies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (policies / "gateway" / "oops.rego").write_text(
        "package gateway.authz\n\ndeny contains x if {\n\tx := input.action ==\n}\n"
    )
    assert main(["policy", "check", str(policies)]) == 1
    err = capsys.readouterr().err
    assert f"{policies / 'gateway' / 'oops.rego'}:4:" in err


def test_test_names_a_module_that_does_not_parse_instead_of_a_traceback(
    policies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (policies / "gateway" / "oops.rego").write_text(
        "package gateway.authz\n\ndeny contains x if {\n"
    )
    assert main(["policy", "test", str(policies)]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("gateway policy test: ") and f"{policies / 'gateway' / 'oops.rego'}:" in err
    )


def test_check_refuses_a_rule_reading_a_field_the_gateway_never_sends(
    policies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A typo'd deny rule is never true: it would silently allow. Strings are not references.
    (policies / "gateway" / "typo.rego").write_text(
        "package gateway.authz\n\n"
        'deny contains "input.proposed.nope is fine in a string" if {\n'
        '\tinput.proposed.comand == "bash" # input.also.fine in a comment\n}\n'
    )
    assert main(["policy", "check", str(policies)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"{policies / 'gateway' / 'typo.rego'}:4: input.proposed.comand")
    assert "command" in err[0]


def test_check_refuses_a_missing_entrypoint(
    policies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (policies / "gateway" / "scope" / "view.rego").unlink()
    assert main(["policy", "check", str(policies)]) == 1
    assert "data.gateway.scope.view is not defined" in capsys.readouterr().err


def test_check_refuses_a_directory_a_level_too_deep(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(REPO_POLICY_DIR / "gateway")]) == 1
    assert ".manifest" in capsys.readouterr().err


def test_check_refuses_data_outside_the_manifest_roots(
    policies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (policies / "elsewhere").mkdir()
    (policies / "elsewhere" / "data.json").write_text('{"x": 1}')
    assert main(["policy", "check", str(policies)]) == 1
    assert "outside the manifest's roots" in capsys.readouterr().err


def test_eval_prints_the_decision_and_its_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = {
        "action": "mcp_server.update",
        "subject": {
            "id": "bob", "email": "bob@example.com", "roles": [], "authenticated": True,
            "auth_enabled": True,
            "memberships": {"ent_1": {"role": "member", "kind": "organization"}},
        },
        "resource": {
            "type": "mcp_server", "id": "emcp_1", "source": "enterprise",
            "enterprise_id": "ent_1", "auto_enabled": True,
        },
        "request": {"method": "PATCH", "path": "/v1/mcp-servers/emcp_1", "req_id": "r"},
        "context": {},
    }  # fmt: skip
    path = tmp_path / "input.json"
    path.write_text(json.dumps(doc))
    assert main(["policy", "eval", "--input", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["allow"] is False and out["visible"] is True
    assert [r["code"] for r in out["reasons"]] == ["enterprise_managed"]

    assert (
        main(["policy", "eval", "--input", str(path), "--entrypoint", "data.gateway.scope.view"])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["enterprise_ids"] == ["ent_1"]


def test_eval_refuses_bad_input_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["policy", "eval", "--input", str(bad)]) == 2
    assert "bad.json" in capsys.readouterr().err
    assert main(["policy", "eval", "--input", str(bad), "--entrypoint", "nope"]) == 2


def test_test_runs_one_pattern_and_shows_what_a_failure_evaluated(
    policies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "test", str(policies), "--run", "scope_test"]) == 0
    out = capsys.readouterr().out
    assert "4 passed, 0 failed" in out
    broken = policies / "gateway" / "scope" / "view_test.rego"
    broken.write_text(broken.read_text().replace('"user_ids": ["bob"]', '"user_ids": ["eve"]', 1))
    assert main(["policy", "test", str(policies), "--run", "test_the_view_is_ones_own"]) == 1
    out = capsys.readouterr().out
    assert "FAIL gateway.scope_test.test_the_view_is_ones_own_servers_and_every_enterprises" in out
    assert f"{broken}:" in out
    assert "evaluated to: undefined" in out
    # The statement that did not hold, and what the test had computed before it.
    assert '"user_ids": ["eve"]' in out and "v == {" in out
    assert 'line 18: v == {"unscoped": false, "user_ids": ["eve"]' in out
    assert 'v = {"auto_enabled_only":true,"enterprise_ids":["ent_a","ent_b"]' in out


def test_test_with_a_pattern_that_matches_nothing_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["policy", "test", str(REPO_POLICY_DIR), "--run", "no_such_test"]) == 1
    assert "no test matched" in capsys.readouterr().err


def test_serve_refuses_a_broken_policy_before_listening(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], policies: Path
) -> None:
    (policies / ".manifest").unlink()
    monkeypatch.setenv("GATEWAY_JWT_SECRET", "a-development-secret-of-32-bytes-or-more")
    monkeypatch.setenv("GATEWAY_POLICY_DIR", str(policies))
    assert main(["serve"]) == 2
    assert "policy error" in capsys.readouterr().err
