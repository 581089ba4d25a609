"""The tools sit beside the runtime: every command group is registered in one place, and
`gateway --help` loads none of the groups' libraries. (That the runtime never imports
gateway.cli, and the stores nothing of audit but the request scope, is the import graph's
test: tests/unit/test_import_graph.py.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import gateway
from gateway.cli import GROUPS, build_parser

PACKAGE = Path(gateway.__file__).resolve().parent


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
        (["openapi", "--write", "docs/openapi.json"], "gateway openapi"),
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
