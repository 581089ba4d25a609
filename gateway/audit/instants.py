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
# The grammar's form (the OpenAPI document's `pattern`): a text of this form may still name
# no instant the log can hold (month 13, year 0 once in UTC): ImpossibleInstant.
PATTERN = (
    r"^(?:\d{1,9}[smhd]|today|\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
    r"(?:[Zz]|[+-]\d{2}:\d{2}))$"
)
_FORM = re.compile(PATTERN)


class BadInstant(ValueError):
    """The text is none of the grammar's forms; the message says what was expected."""


class ImpossibleInstant(BadInstant):
    """Of the grammar's form, but no instant the log can hold (the API's 422)."""


def parse_instant(text: str, now: datetime | None = None) -> str:
    if not _FORM.fullmatch(text):
        raise BadInstant(f"{text!r} is not {GRAMMAR}")
    now = now or datetime.now(UTC)
    ago = _AGO.fullmatch(text)
    try:
        if ago:
            return format_timestamp(now - timedelta(**{_UNITS[ago[2]]: int(ago[1])}))
        if text == "today":
            midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            return format_timestamp(midnight)
        at = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
        return format_timestamp(at)  # 0001-01-01T00:00+01:00 is in year 0 in UTC: Overflow
    except (ValueError, OverflowError):
        raise ImpossibleInstant(f"{text!r} names no instant the log can hold") from None
