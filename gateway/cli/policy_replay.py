"""`gateway policy replay`: the logged decisions re-decided under a candidate policy directory
(the engine: gateway/audit/replay.py), and which of them would flip."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec

from gateway.audit.records import DecisionRecord
from gateway.audit.replay import replay as replay_records
from gateway.cli.audit_args import audit_filter
from gateway.cli.audit_sources import file_lines, open_source, records, using
from gateway.cli.common import CommandError
from gateway.cli.tables import print_replay
from gateway.policy.bundle import unpack_bundle
from gateway.policy.embedded import CompiledPolicy, compile_policy
from gateway.policy.sources import PolicyLoadError


def _candidate(path: Path) -> CompiledPolicy:
    """A policy directory, or a bundle (`gateway policy bundle`): the revision a record names
    can be re-decided under that very bundle."""
    if not path.is_file():
        return compile_policy(path)
    with tempfile.TemporaryDirectory(prefix="gateway-replay-") as unpacked:
        unpack_bundle(path, Path(unpacked))
        return compile_policy(unpacked)


def replay(args: argparse.Namespace) -> int:
    source = None if args.from_file else open_source(args)
    where = audit_filter(args)
    try:
        candidate = _candidate(Path(args.candidate))
    except PolicyLoadError as exc:
        raise CommandError(f"the candidate does not load:\n{exc}") from None

    async def collect(lines: AsyncIterator[bytes]) -> list[DecisionRecord]:
        return [r async for r in records(lines) if where.matches(r)]

    if args.from_file is not None:
        found = asyncio.run(collect(file_lines(args.from_file)))
    else:
        assert source is not None
        found = asyncio.run(using(source, lambda s: collect(s.export(where))))
    report = replay_records(found, candidate)
    if args.json:
        sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
    else:
        print_replay(report, candidate.revision, sys.stdout)
    return 0
