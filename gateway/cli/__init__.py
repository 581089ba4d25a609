"""`gateway serve | token | policy test|check|eval|schema|push|replay |
audit query|export|verify | openapi`: the commands of the quick start, of security teams
and of auditors."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from gateway.cli.common import CommandError

# The command groups, registered here and only here: each is the module gateway/cli/<name>.py
# with a `register(parser)` that adds its arguments and commands. A group's module is imported
# only when that group runs, so each module imports what it uses at its top and still
# `gateway --help` loads none of Litestar, uvicorn, PyJWT, regopy, httpx or the Redis client.
GROUPS = {
    "serve": "run the gateway (configured from GATEWAY_* variables)",
    "token": "mint a development HS256 token from GATEWAY_JWT_SECRET",
    "policy": "policy tooling for security teams",
    "audit": "the decision log, for auditors",
    "openapi": "print (or --write) the OpenAPI document the gateway serves",
}


def build_parser(group: str | None = None) -> argparse.ArgumentParser:
    """Every group's arguments, or `group`'s only (the others listed by name and help)."""
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    groups = parser.add_subparsers(dest="command", required=True)
    for name, help_text in GROUPS.items():
        group_parser = groups.add_parser(name, help=help_text)
        if group in (None, name):
            importlib.import_module(f"{__name__}.{name}").register(group_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv[0] if argv else "").parse_args(argv)
    try:
        code: int = args.handler(args)
    except CommandError as exc:
        print(f"{exc.prog or args.command_name}: {exc}", file=sys.stderr)
        return exc.code
    return code
