"""`gateway audit query|export|verify`: the decision log from a terminal, for auditors (where
the records come from: audit_sources.py)."""

from __future__ import annotations

import argparse
import asyncio
import sys

import msgspec

from gateway.audit.chain import ChainReport, verify_chain
from gateway.audit.records import DecisionRecord
from gateway.cli.audit_args import audit_filter, filter_arguments, source_arguments
from gateway.cli.audit_sources import (
    Redis,
    Source,
    file_lines,
    open_source,
    positions,
    using,
)
from gateway.cli.common import CommandError, command
from gateway.cli.tables import print_record, print_table


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="audit_command", required=True)
    query = commands.add_parser("query", help="decision records, newest first (a table)")
    source_arguments(query)
    filter_arguments(query)
    query.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    query.add_argument("--json", action="store_true", help="one JSON record per line")
    command(query, _query)
    show = commands.add_parser("show", help="one decision: who, what, why, policy, chain, input")
    source_arguments(show)
    show.add_argument("decision_id", help="a decision id (a response's X-Decision-Id)")
    show.add_argument(
        "--enterprise", help="read it as this enterprise's (an owner's or admin's read)"
    )
    show.add_argument("--json", action="store_true", help="the record as JSON")
    command(show, _show)
    export = commands.add_parser("export", help="NDJSON, oldest first: OPA decision-log lines")
    source_arguments(export)
    filter_arguments(export)
    command(export, _export)
    verify = commands.add_parser(
        "verify", help="walk the hash chain; name the first record altered, removed or reordered"
    )
    source_arguments(verify)
    verify.add_argument("--file", help="verify an NDJSON export instead (- for stdin)")
    verify.add_argument(
        "--allow-gaps", action="store_true", help="the export is filtered: check each record"
    )
    command(verify, _verify)
    reindex = commands.add_parser(
        "reindex", help="rebuild the Redis log's indexes from its stream (after `verify` names one)"
    )
    command(reindex, _reindex)


def _query(args: argparse.Namespace) -> int:
    source, where = open_source(args), audit_filter(args)
    found: list[DecisionRecord] = asyncio.run(using(source, lambda s: s.query(where, args.limit)))
    if args.json:
        for record in found:
            sys.stdout.write(msgspec.json.encode(record).decode() + "\n")
    else:
        print_table(found, sys.stdout)
    return 0


def _show(args: argparse.Namespace) -> int:
    source = open_source(args)
    record = asyncio.run(using(source, lambda s: s.get(args.decision_id, args.enterprise)))
    if record is None:
        raise CommandError(f"decision {args.decision_id} not found")
    if args.json:
        sys.stdout.write(msgspec.json.encode(record).decode() + "\n")
    else:
        print_record(record, sys.stdout)
    return 0


def _export(args: argparse.Namespace) -> int:
    source, where = open_source(args), audit_filter(args)

    async def run(s: Source) -> int:
        n = 0
        async for raw in s.export(where):
            sys.stdout.write(raw.decode() + "\n")
            n += 1
        return n

    count = asyncio.run(using(source, run))
    print(f"{count} records", file=sys.stderr)
    return 0


def _verify(args: argparse.Namespace) -> int:
    if args.file:
        lines = positions(file_lines(args.file))
        report = asyncio.run(verify_chain(lines, allow_gaps=args.allow_gaps))
        return _report(report, args.file)
    source = open_source(args)
    return _report(asyncio.run(using(source, lambda s: s.verify())), "the log")


def _reindex(args: argparse.Namespace) -> int:
    args.url = args.token = None  # the indexes are Redis's: GATEWAY_REDIS_URL
    source = open_source(args)
    if not isinstance(source, Redis):
        raise CommandError("reindex needs GATEWAY_REDIS_URL")
    done = asyncio.run(using(source, lambda _: source.reindex()))
    print(f"{done} records indexed")
    return 0


def _report(report: ChainReport, what: str) -> int:
    if report.ok:
        head = report.head
        trimmed = report.trimmed
        print(
            f"ok: {report.checked} records of {what} chain"
            + (f"; head {head.seq} {head.hash}" if head else "")
        )
        if trimmed is not None:
            print(
                f"trimmed: retention removed records 1..{trimmed.seq} ({trimmed.reason}, "
                f"{trimmed.at}); its checkpoint's signature holds"
            )
        return 0
    print(f"FAILED after {report.checked} intact records: {report.detail}")
    return 1
