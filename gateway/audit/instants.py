"""The one time grammar of decision-log queries, for the API (`?since=`, `?until=`), the CLI
(`--since`, `--until`) and the console alike: RFC 3339 with a time zone, a duration ago
(`90s`, `15m`, `1h`, `7d`), or `today` (midnight UTC). Answers format_timestamp()'s form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from gateway.audit.log import format_timestamp

_AGO = re.compile(r"(\d{1,9})([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
GRAMMAR = "RFC 3339 with a time zone (2026-11-30T10:00:00Z), 15m / 1h / 7d ago, or today"


class BadInstant(ValueError):
    """The text is none of the grammar's forms; the message says what was expected."""


def parse_instant(text: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    ago = _AGO.fullmatch(text)
    try:
        if ago:
            return format_timestamp(now - timedelta(**{_UNITS[ago[2]]: int(ago[1])}))
        if text == "today":
            return format_timestamp(
                now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            )
        at = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise BadInstant(f"{text!r} is not {GRAMMAR}") from None
    except OverflowError:
        raise BadInstant(f"{text!r} is out of range") from None
    if "T" not in text.upper() and " " not in text:
        raise BadInstant(f"{text!r} has no time: {GRAMMAR}")
    if at.tzinfo is None:
        raise BadInstant(f"{text!r} needs a time zone (e.g. Z or +01:00)")
    try:
        return format_timestamp(at)
    except (OverflowError, ValueError):  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise BadInstant(f"{text!r} is out of range once in UTC") from None
