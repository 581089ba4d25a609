"""`gateway serve | token | policy test`: the commands the quick start and security teams use."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.config import REPO_POLICY_DIR, ConfigError, load_settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.app import create_app

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    host = args.host or settings.host
    port = args.port or settings.port
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    app = create_app(settings)
    mode = "redis" if settings.redis_url else "memory"
    print(f"MCP Policy Gateway on http://{host}:{port} (stores: {mode}, policy engine: embedded)")
    if settings.auth_enabled and settings.jwt_secret:
        print("Get a development token:  gateway token --sub alice --email alice@example.com")
        print("(with the same GATEWAY_JWT_SECRET in the environment)")
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(), access_log=False)
    return 0


def _token(args: argparse.Namespace) -> int:
    from gateway.auth.dev_tokens import mint_dev_token

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    if not settings.jwt_secret:
        print(
            "gateway token: GATEWAY_JWT_SECRET is not set (tokens are signed with it)",
            file=sys.stderr,
        )
        return 2
    print(
        mint_dev_token(
            settings.jwt_secret,
            sub=args.sub,
            email=args.email,
            name=args.name,
            roles=args.role,
            ttl_seconds=args.ttl,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    )
    return 0


def _policy_test(args: argparse.Namespace) -> int:
    from gateway.policy.testing import run_policy_tests

    results = run_policy_tests(args.dir or os.environ.get("GATEWAY_POLICY_DIR", REPO_POLICY_DIR))
    failed = [r for r in results if not r.passed]
    for r in results:
        print(f"{'PASS' if r.passed else 'FAIL'} {r.package}.{r.name}")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or not results else 0


def _policy_schema(args: argparse.Namespace) -> int:
    import msgspec

    from gateway.policy.decider import input_schema

    text = msgspec.json.format(msgspec.json.encode(input_schema()), indent=2).decode() + "\n"
    if args.write:
        Path(args.write).parent.mkdir(parents=True, exist_ok=True)
        Path(args.write).write_text(text)
    else:
        print(text, end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway (configured from GATEWAY_* variables)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=_serve)

    token = sub.add_parser("token", help="mint a development HS256 token from GATEWAY_JWT_SECRET")
    token.add_argument("--sub", required=True, help="the user id")
    token.add_argument("--email", required=True)
    token.add_argument("--name")
    token.add_argument("--role", action="append", default=[], help="platform role, e.g. auditor")
    token.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    token.set_defaults(func=_token)

    policy = sub.add_parser("policy", help="policy tooling for security teams")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    ptest = policy_sub.add_parser("test", help="run every test_* rule in the policy directory")
    ptest.add_argument("dir", nargs="?", help="policy directory (default GATEWAY_POLICY_DIR)")
    ptest.set_defaults(func=_policy_test)
    pschema = policy_sub.add_parser("schema", help="print the policy input's JSON schema")
    pschema.add_argument("--write", help="write it to this file (policies/schemas/input.json)")
    pschema.set_defaults(func=_policy_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
