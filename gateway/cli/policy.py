"""`gateway policy test|check|eval|bundle|schema|push|replay`: what a security team runs on a policy
directory before it rolls out (policies/ by default)."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import msgspec

from gateway.cli.audit_args import filter_arguments, source_arguments
from gateway.cli.common import CommandError, command
from gateway.config import REPO_POLICY_DIR
from gateway.errors import BackendUnavailable
from gateway.policy.embedded import compile_policy
from gateway.policy.engine import ENTRYPOINTS, UNDEFINED
from gateway.policy.inputs import input_schema
from gateway.policy.rego_tests import run_policy_tests
from gateway.policy.sources import PolicyLoadError

DIR_HELP = "policy directory (default GATEWAY_POLICY_DIR, else the repo's policies/)"


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="policy_command", required=True)
    test = commands.add_parser("test", help="run every test_* rule in the policy directory")
    test.add_argument("dir", nargs="?", help=DIR_HELP)
    test.add_argument("--run", help="only tests whose package.name matches this regex")
    test.add_argument("-v", "--verbose", action="store_true", help="list passing tests too")
    command(test, _test)
    check = commands.add_parser(
        "check", help="compile, and check every entrypoint is defined (file:line: message)"
    )
    check.add_argument("dir", nargs="?", help=DIR_HELP)
    command(check, _check)
    evaluate = commands.add_parser("eval", help="evaluate an entrypoint on an input document")
    evaluate.add_argument("dir", nargs="?", help=DIR_HELP)
    evaluate.add_argument("--input", required=True, help="input JSON file (- for stdin)")
    evaluate.add_argument(
        "--entrypoint", default="gateway/authz/decision", help="default gateway/authz/decision"
    )
    command(evaluate, _eval)
    push = commands.add_parser(
        "push", help="upload the directory to an OPA server (Policy and Data APIs)"
    )
    push.add_argument("dir", nargs="?", help=DIR_HELP)
    push.add_argument("--opa-url", required=True, help="e.g. http://opa:8181")
    command(push, _push)
    bundle = commands.add_parser(
        "bundle",
        help="write the directory as an OPA bundle, after every check a reload runs and the "
        "Rego tests; its .manifest revision is the embedded engine's revision",
    )
    bundle.add_argument("dir", nargs="?", help=DIR_HELP)
    bundle.add_argument("--out", default="bundle.tar.gz", help="default bundle.tar.gz")
    bundle.add_argument(
        "--signing-key",
        help="a file holding an HMAC secret (HS256) or a PEM private key (RS256/ES256)",
    )
    bundle.add_argument("--key-id", default="gateway", help="the key id OPA verifies with")
    command(bundle, _bundle)
    schema = commands.add_parser("schema", help="print the policy input's JSON schema")
    schema.add_argument("--write", help="write input.json into this directory (policies/schemas)")
    command(schema, _schema)
    replay = commands.add_parser(
        "replay",
        help="re-evaluate logged decisions against a candidate directory; list what would flip",
    )
    replay.add_argument(
        "--candidate",
        required=True,
        help="the candidate: a policy directory, or a bundle from `gateway policy bundle`",
    )
    replay.add_argument("--from", dest="from_file", help="an NDJSON export instead of the log")
    replay.add_argument("--json", action="store_true", help="the report as JSON")
    source_arguments(replay)
    filter_arguments(replay)
    command(replay, _replay)


def _policy_dir(args: argparse.Namespace) -> str:
    return str(args.dir or os.environ.get("GATEWAY_POLICY_DIR") or REPO_POLICY_DIR)


def _test(args: argparse.Namespace) -> int:
    try:
        results = run_policy_tests(_policy_dir(args), run=args.run)
    except (PolicyLoadError, re.error) as exc:
        raise CommandError(str(exc)) from None
    failed = [r for r in results if not r.passed]
    for r in results:
        if r.passed:
            if args.verbose:
                print(f"PASS {r.full_name}")
            continue
        print(f"FAIL {r.full_name}  ({r.location})")
        print("  evaluated to: " + r.output.replace("\n", "\n    "))
        if r.failed_at:
            print(f"  first statement that did not hold, {r.failed_at}")
        for name, value in r.values.items():
            print(f"    {name} = {value}")
        if not r.failed_at:
            print("  " + r.source.replace("\n", "\n  "))
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if not results:
        print("no test matched", file=sys.stderr)
    return 1 if failed or not results else 0


def _check(args: argparse.Namespace) -> int:
    try:
        compiled = compile_policy(_policy_dir(args))
    except PolicyLoadError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"ok: revision {compiled.revision}, every entrypoint defined")
    return 0


def _eval(args: argparse.Namespace) -> int:
    entrypoint = args.entrypoint.removeprefix("data.").replace(".", "/")
    if entrypoint not in ENTRYPOINTS:
        raise CommandError(f"--entrypoint must be one of {list(ENTRYPOINTS)}")
    try:
        raw = sys.stdin.buffer.read() if args.input == "-" else Path(args.input).read_bytes()
        msgspec.json.decode(raw)  # a clear error for a bad file, before the engine sees it
    except (OSError, msgspec.DecodeError) as exc:
        raise CommandError(f"--input {args.input}: {exc}") from None
    try:
        compiled = compile_policy(_policy_dir(args))
        result = compiled.evaluate(entrypoint, raw)
    except PolicyLoadError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except BackendUnavailable as exc:
        raise CommandError(exc.detail, code=1) from None
    if result is UNDEFINED:
        print(f"data.{entrypoint.replace('/', '.')} is undefined for this input")
        return 1
    print(msgspec.json.format(msgspec.json.encode(result), indent=2).decode())
    return 0


def _bundle(args: argparse.Namespace) -> int:
    from gateway.policy.bundle import BundleSigner, build_bundle, checked_sources

    signer = None
    if args.signing_key:
        try:
            key = Path(args.signing_key).read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"--signing-key {args.signing_key}: {exc}") from None
        if not key:
            raise CommandError(f"--signing-key {args.signing_key}: the file is empty")
        try:
            signer = BundleSigner(key=key, key_id=args.key_id)
        except ValueError as exc:
            raise CommandError(f"--signing-key {args.signing_key}: {exc}") from None
    try:
        bundle = build_bundle(checked_sources(_policy_dir(args)), signer)
    except PolicyLoadError as exc:
        print(f"no bundle written: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out)
    partial = out.with_name(out.name + ".partial")  # never a half-written bundle at --out
    try:
        partial.write_bytes(bundle.data)
        partial.replace(out)
    except OSError as exc:
        raise CommandError(f"--out {args.out}: {exc}") from None
    signed = f"signed ({signer.algorithm}, key id {signer.key_id})" if signer else "unsigned"
    print(f"wrote {out}: revision {bundle.revision}, {signed}, {len(bundle.data)} bytes")
    return 0


def _schema(args: argparse.Namespace) -> int:
    text = msgspec.json.format(msgspec.json.encode(input_schema()), indent=2).decode() + "\n"
    if args.write:
        Path(args.write).mkdir(parents=True, exist_ok=True)
        (Path(args.write) / "input.json").write_text(text)
    else:
        print(text, end="")
    return 0


# push and replay import their clients (aiohttp and the OPA client; httpx and Redis) when
# they run: test, check, eval and schema would otherwise start 0.2 s later for nothing.


def _push(args: argparse.Namespace) -> int:
    from gateway.cli.policy_push import PushError, push_sync

    try:
        served = push_sync(_policy_dir(args), args.opa_url)
    except (PolicyLoadError, PushError) as exc:
        raise CommandError(str(exc), code=1) from None
    print(f"pushed {len(served)} modules and the data to {args.opa_url}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from gateway.cli.policy_replay import replay

    return replay(args)
