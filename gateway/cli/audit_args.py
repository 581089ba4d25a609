"""The arguments `gateway audit …` and `gateway policy replay` share: where the records come
from (`--url`, `--token`) and which of them (`--user`, `--since` …, read into an AuditFilter)."""

from __future__ import annotations

import argparse

from gateway.audit.instants import BadInstant, parse_instant
from gateway.audit.log import AuditFilter
from gateway.cli.common import CommandError


def source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", help="the gateway's base URL (its API; default: GATEWAY_REDIS_URL directly)"
    )
    parser.add_argument("--token", help="bearer token for --url (default GATEWAY_TOKEN)")


def filter_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", help="the subject's user id")
    parser.add_argument("--enterprise", help="enterprise id")
    parser.add_argument("--action", help="e.g. mcp_server.update")
    parser.add_argument("--resource", help="what was acted on (server, enterprise, user id)")
    parser.add_argument("--allowed", choices=["true", "false"])
    parser.add_argument("--req-id", help="one request's decisions (X-Request-Id)")
    parser.add_argument("--since", help="15m, 1h, 7d, today, or RFC 3339 with a time zone")
    parser.add_argument("--until", help="like --since (exclusive)")


def audit_filter(args: argparse.Namespace) -> AuditFilter:
    allowed = {"true": True, "false": False, None: None}[args.allowed]
    return AuditFilter(
        user_id=args.user,
        enterprise_id=args.enterprise,
        action=args.action,
        resource_id=args.resource,
        allowed=allowed,
        req_id=args.req_id,
        since=_instant("since", args.since),
        until=_instant("until", args.until),
    )


def _instant(name: str, text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except BadInstant as exc:
        raise CommandError(f"--{name}: {exc}") from None
