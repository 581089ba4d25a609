"""The tools sit beside the runtime, not inside it: the runtime never imports gateway.cli,
the stores never import the audit package (its Redis adapter lives in audit/), every command
group is registered in one place, and `gateway --help` loads none of the groups' libraries."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import gateway
from gateway.cli import GROUPS, build_parser

PACKAGE = Path(gateway.__file__).resolve().parent


def _imports(folder: Path) -> list[tuple[str, str]]:
    """(file, module) for every import under `folder`, function-level ones included."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.append((str(path.relative_to(PACKAGE)), node.module))
            elif isinstance(node, ast.Import):
                found += [(str(path.relative_to(PACKAGE)), alias.name) for alias in node.names]
    return found


def test_the_runtime_does_not_import_the_tools() -> None:
    runtime = [
        (path, module)
        for path, module in _imports(PACKAGE)
        if not path.startswith("cli/") and module.startswith("gateway.cli")
    ]
    assert runtime == []


def test_the_stores_do_not_import_the_audit_package() -> None:
    upward = [(p, m) for p, m in _imports(PACKAGE / "stores") if m.startswith("gateway.audit")]
    assert upward == []


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["serve", "--workers", "2"], "gateway serve"),
        (["token", "--sub", "alice", "--email", "alice@example.com"], "gateway token"),
        (["policy", "test"], "gateway policy test"),
        (["policy", "check"], "gateway policy check"),
        (["policy", "eval", "--input", "-"], "gateway policy eval"),
        (["policy", "schema"], "gateway policy schema"),
        (["policy", "push", "--opa-url", "http://opa:8181"], "gateway policy push"),
        (["policy", "replay", "--candidate", "policies"], "gateway policy replay"),
        (["audit", "query"], "gateway audit query"),
        (["audit", "export"], "gateway audit export"),
        (["audit", "verify"], "gateway audit verify"),
    ],
)
def test_every_command_is_registered_under_its_name(argv: list[str], name: str) -> None:
    assert argv[0] in GROUPS
    args = build_parser().parse_args(argv)
    assert callable(args.handler) and args.command_name == name


def test_help_loads_none_of_the_groups() -> None:
    heavy = ("litestar", "uvicorn", "jwt", "regopy", "httpx", "redis", "aiohttp")
    code = (
        "import sys; from gateway.cli import build_parser; build_parser('--help'); "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
