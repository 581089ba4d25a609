"""`gateway token`: a development token, signed with GATEWAY_JWT_SECRET (HS256)."""

from __future__ import annotations

import argparse

from gateway.auth.dev_tokens import mint_dev_token
from gateway.cli.common import CommandError, command, settings


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sub", required=True, help="the user id")
    parser.add_argument("--email", required=True)
    parser.add_argument("--name")
    parser.add_argument("--role", action="append", default=[], help="platform role, e.g. auditor")
    parser.add_argument(
        "--ttl",
        type=int,
        default=3600,
        help="seconds until it expires (at most GATEWAY_JWT_MAX_LIFETIME_SECONDS)",
    )
    command(parser, _token)


def _token(args: argparse.Namespace) -> int:
    config = settings()
    if not config.jwt_secret:
        raise CommandError("GATEWAY_JWT_SECRET is not set (tokens are signed with it)")
    # The gateway refuses a token living longer than its setting (auth/tokens.py), and an
    # expired one: minting either would only hand out a token every request refuses.
    longest = config.jwt_max_lifetime_seconds
    if not 1 <= args.ttl <= longest:
        raise CommandError(
            f"--ttl {args.ttl}: the gateway accepts tokens living 1 to {longest} s "
            "(GATEWAY_JWT_MAX_LIFETIME_SECONDS); choose a shorter --ttl or raise that "
            "setting where the gateway runs (at most 2592000)"
        )
    print(
        mint_dev_token(
            config.jwt_secret,
            sub=args.sub,
            email=args.email,
            name=args.name,
            roles=args.role,
            ttl_seconds=args.ttl,
            issuer=config.jwt_issuer,
            # Good on /mcp (its canonical URI) and /v1 (the configured audience, if any).
            audience=[config.mcp_resource, *([config.jwt_audience] if config.jwt_audience else [])],
        )
    )
    return 0
