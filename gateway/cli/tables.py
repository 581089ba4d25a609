"""What the terminal shows: decision records as a table (`gateway audit query`) and the
report of a replay (`gateway policy replay`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from gateway.audit.records import DecisionRecord

if TYPE_CHECKING:  # annotations only: `gateway audit` need not load the policy engine
    from gateway.audit.replay import ReplayReport


def _reasons(record: DecisionRecord) -> str:
    result = record.result if isinstance(record.result, dict) else {}
    return ",".join(r.get("code", "?") for r in result.get("reasons") or [] if isinstance(r, dict))


def print_table(records: list[DecisionRecord], out: TextIO) -> None:
    columns = (
        "time",
        "decision_id",
        "user",
        "action",
        "resource",
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
            r.action or "-",
            r.resource_id or "-",
            r.enterprise_id or "-",
            {True: "yes", False: "NO", None: "-"}[r.allowed],
            f"{r.http.method or ''} {r.http.status or ''}".strip() or "-",
            _reasons(r) or "-",
        )
        for r in records
    ]
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]
    for row in [columns, *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(),
            file=out,
        )


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
