"""The arguments `gateway audit …` and `gateway policy replay` share: where the records come
from (`--url`, `--token`) and which of them (`--user`, `--since` …, read into an AuditFilter)."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

from gateway.audit.log import AuditFilter, format_timestamp
from gateway.cli.common import CommandError

_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


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
    parser.add_argument("--since", help="1h, 30m, 7d, or RFC 3339 with a time zone")
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
        since=parse_instant("since", args.since),
        until=parse_instant("until", args.until),
    )


def parse_instant(name: str, text: str | None, now: datetime | None = None) -> str | None:
    """`1h` (that long ago), or RFC 3339 with a time zone."""
    if text is None:
        return None
    relative = _RELATIVE.match(text)
    if relative:
        delta = timedelta(**{_UNITS[relative[2]]: int(relative[1])})
        return format_timestamp((now or datetime.now(UTC)) - delta)
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"--{name}: {text!r} is neither 1h/30m/7d nor RFC 3339") from None
    if at.tzinfo is None:
        raise CommandError(f"--{name}: {text!r} needs a time zone (e.g. Z)")
    return format_timestamp(at)
