"""`gateway openapi`: the OpenAPI document the gateway serves at /schema/openapi.json (it
depends on no setting), printed or written — how docs/openapi.json, the contract's
snapshot, is regenerated."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gateway.app import openapi_document
from gateway.cli.common import command


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--write", metavar="PATH", help="write it to PATH instead of printing")
    command(parser, _openapi)


def _openapi(args: argparse.Namespace) -> int:
    text = json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"
    if args.write:
        Path(args.write).write_text(text)
    else:
        print(text, end="")
    return 0
