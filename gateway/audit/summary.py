"""Counts over decision records for `GET /v1/audit/summary` and the console's charts:
denials by rule (the reasons' codes), by day, by subject and by action. A page decision
(marketplace listings) counts each item it denied; a `gateway/audit/suppressed` record the
allowed and denied decisions it stands for. Bounded: at most `budget` records are read
(`complete: false` beyond), at most `top` entries per list, at most 400 days."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec

from gateway.audit.records import DecisionRecord, decode_record
from gateway.audit.volume import SUPPRESSED_PATH

MAX_DAYS = 400
SUMMARY_BUDGET = 50_000


class Count(msgspec.Struct, kw_only=True, frozen=True):
    key: str
    count: int


class DayCount(msgspec.Struct, kw_only=True, frozen=True):
    day: str  # YYYY-MM-DD (UTC)
    allowed: int
    denied: int


class RuleDay(msgspec.Struct, kw_only=True, frozen=True):
    day: str
    rule: str
    count: int


class AuditSummary(msgspec.Struct, kw_only=True, frozen=True):
    records: int  # records counted
    complete: bool  # false: the budget ran out first (narrow the filters or the window)
    allowed: int
    denied: int
    by_rule: list[Count]  # denials by reason code, most first
    by_subject: list[Count]  # denied subjects, most first
    by_action: list[Count]  # denials by action, most first
    by_day: list[DayCount]  # oldest first
    by_rule_day: list[RuleDay]  # denials per rule per day, for the top rules


def _page_items(result: Any) -> Iterator[tuple[bool, list[str]]]:
    decisions = result.get("decisions") if isinstance(result, dict) else None
    for item in (decisions or {}).values() if isinstance(decisions, dict) else ():
        if isinstance(item, dict):
            yield item.get("allow") is True, _codes(item)


def _codes(result: Any) -> list[str]:
    reasons = result.get("reasons") if isinstance(result, dict) else None
    codes = [str(r.get("code")) for r in reasons or [] if isinstance(r, dict) and r.get("code")]
    return codes or ["no_reason"]


def _outcomes(record: DecisionRecord) -> Iterator[tuple[int, int, list[str]]]:
    """(allowed, denied, rules of the denials) this record stands for."""
    if record.path == SUPPRESSED_PATH and isinstance(record.result, dict):
        yield (
            int(record.result.get("allowed", 0)),
            int(record.result.get("denied", 0)),
            ["suppressed"],
        )
    elif record.items_allowed is not None or record.items_denied is not None:
        for allowed, codes in _page_items(record.result):
            yield (1, 0, []) if allowed else (0, 1, codes)
    elif record.allowed is True:
        yield 1, 0, []
    elif record.allowed is False:
        yield 0, 1, _codes(record.result)


async def summarize(
    lines: AsyncIterator[bytes], *, top: int, budget: int = SUMMARY_BUDGET
) -> AuditSummary:
    rules: Counter[str] = Counter()
    subjects: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    days_allowed: Counter[str] = Counter()
    days_denied: Counter[str] = Counter()
    rule_days: Counter[tuple[str, str]] = Counter()
    allowed = denied = records = 0
    complete = True
    async for raw in lines:
        if records >= budget:
            complete = False
            break
        records += 1
        record = decode_record(raw)
        day = record.timestamp[:10]
        for yes, no, codes in _outcomes(record):
            allowed += yes
            denied += no
            days_allowed[day] += yes
            if not no:
                continue
            days_denied[day] += no
            subjects[record.subject_id or "-"] += no
            actions[record.action or "-"] += no
            for code in codes:
                rules[code] += no
                rule_days[(day, code)] += no
    if isinstance(lines, AsyncIterator) and hasattr(lines, "aclose"):
        await lines.aclose()
    top_rules = {rule for rule, _ in rules.most_common(top)}
    days = sorted(set(days_allowed) | set(days_denied))[-MAX_DAYS:]
    return AuditSummary(
        records=records,
        complete=complete,
        allowed=allowed,
        denied=denied,
        by_rule=[Count(key=k, count=n) for k, n in rules.most_common(top)],
        by_subject=[Count(key=k, count=n) for k, n in subjects.most_common(top)],
        by_action=[Count(key=k, count=n) for k, n in actions.most_common(top)],
        by_day=[DayCount(day=d, allowed=days_allowed[d], denied=days_denied[d]) for d in days],
        by_rule_day=[
            RuleDay(day=d, rule=r, count=n)
            for (d, r), n in sorted(rule_days.items())
            if r in top_rules and d in days
        ],
    )
