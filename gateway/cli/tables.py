"""What the terminal shows: decision records as a table (`gateway audit query`) and the
report of a replay (`gateway policy replay`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

import msgspec

from gateway.audit.records import DecisionRecord

if TYPE_CHECKING:  # annotations only: `gateway audit` need not load the policy engine
    from gateway.audit.replay import ReplayReport


def _reasons(record: DecisionRecord) -> list[dict[str, str]]:
    result = record.result if isinstance(record.result, dict) else {}
    return [r for r in result.get("reasons") or [] if isinstance(r, dict)]


def reasons_text(record: DecisionRecord) -> str:
    """`code: message` of each reason (the message is what the user saw in the 403)."""
    return "; ".join(
        f"{r.get('code', '?')}: {r['message']}" if r.get("message") else str(r.get("code", "?"))
        for r in _reasons(record)
    )


def acted_on(record: DecisionRecord) -> str:
    """The tool, resource, prompt or server by name (the id alone says little)."""
    doc: dict[str, Any] = record.input if isinstance(record.input, dict) else {}
    resource: dict[str, Any] = doc["resource"] if isinstance(doc.get("resource"), dict) else {}
    for key in ("name", "uri"):
        value = resource.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _listing(record: DecisionRecord) -> bool:
    return record.purpose == "list"


def print_table(records: list[DecisionRecord], out: TextIO) -> None:
    columns = (
        "time",
        "decision_id",
        "user",
        "action",
        "resource",
        "name",
        "enterprise",
        "allowed",
        "http",
        "reasons",
    )
    rows = [
        (
            r.timestamp[:19].replace("T", " "),
            r.decision_id,
            r.subject_id or "-",
            (r.action or "-") + (" (list)" if _listing(r) else ""),
            r.resource_id or "-",
            acted_on(r) or "-",
            r.enterprise_id or "-",
            {True: "yes", False: "NO", None: "-"}[r.allowed],
            f"{r.http.method or ''} {r.http.status or ''}".strip() or "-",
            reasons_text(r) or "-",
        )
        for r in records
    ]
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]
    for row in [columns, *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(),
            file=out,
        )


def print_record(record: DecisionRecord, out: TextIO) -> None:
    """One decision as `gateway audit show` prints it: who, what, the answer and why, under
    which policy, where it stands in the chain, then its (masked) input."""
    http = record.http
    lines = [
        ("decision", record.decision_id),
        ("time", record.timestamp),
        ("path", record.path),
        ("subject", record.subject_id or "-"),
        (
            "action",
            (record.action or "-") + (" (filtering a list)" if record.purpose == "list" else ""),
        ),
        ("resource", " ".join(x for x in (record.resource_id, acted_on(record)) if x) or "-"),
        ("enterprise", record.enterprise_id or "-"),
        ("allowed", {True: "yes", False: "NO", None: "-"}[record.allowed]),
        ("reasons", reasons_text(record) or "-"),
        ("http", " ".join(str(x) for x in (http.method, http.path, http.status) if x) or "-"),
        ("request", record.req_id or "-"),
        ("policy", record.revision or "-"),
        ("chain", f"seq {record.seq}, hash {record.hash}, after {record.prev_hash}"),
    ]
    if record.masked or record.erased:
        lines.append(("masked", ", ".join(record.masked + record.erased)))
    if record.cut:
        lines.append(
            (
                "cut",
                f"{', '.join(record.cut)} ({record.cut_reason}, was {record.input_bytes} bytes)",
            )
        )
    if record.redacted:
        lines.append(("redacted", ", ".join(record.redacted)))
    for name, value in lines:
        print(f"{name:11} {value}", file=out)
    print("input:", file=out)
    print(msgspec.json.format(msgspec.json.encode(record.input), indent=2).decode(), file=out)
    print("result:", file=out)
    print(msgspec.json.format(msgspec.json.encode(record.result), indent=2).decode(), file=out)


def print_replay(report: ReplayReport, revision: str, out: TextIO) -> None:
    print(
        f"candidate revision {revision}: {report.replayed} decisions replayed, "
        f"{len(report.flips)} would flip, {report.unchanged} unchanged, {report.skipped} skipped"
        + (f", {report.masked_inputs} replayed on masked input" if report.masked_inputs else ""),
        file=out,
    )
    if report.decided_under:
        print(
            "decided under: "
            + ", ".join(
                f"{under}: {count}" for under, count in sorted(report.decided_under.items())
            ),
            file=out,
        )
    if not report.flips:
        return
    print("\nper action:", file=out)
    for action, counts in sorted(report.by_action.items()):
        print(f"  {action:40} gained {counts.gained:5}   lost {counts.lost:5}", file=out)
    print("\nflips:", file=out)
    for flip in report.flips:
        print(
            f"  {flip.timestamp[:19].replace('T', ' ')}  {flip.change.upper():6}  "
            f"{flip.subject_id or '-'}  {flip.action or '-'}  {flip.resource_id or '-'}"
            + (f"  ({','.join(flip.reasons)})" if flip.reasons else "")
            + f"  {flip.decision_id}",
            file=out,
        )
