"""`gateway audit query|export|verify` and `gateway policy replay`: the decision log from a
terminal. Where the records come from:

- `--url https://gateway` (with `GATEWAY_TOKEN` or `--token`): the gateway's own API, so the
  policy decides what the caller may read (any store, memory included);
- otherwise `GATEWAY_REDIS_URL`: the Redis Stream itself (whoever holds the Redis
  credentials reads everything already);
- `verify --file` and `replay --from`: an NDJSON export.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import httpx
import msgspec

from gateway.audit.chain import ChainReport, verify_chain
from gateway.audit.log import AuditFilter, format_timestamp
from gateway.audit.records import DecisionRecord, decode_record
from gateway.audit.replay import ReplayReport, replay
from gateway.errors import BackendUnavailable

_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class CommandError(Exception):
    """A bad argument or an unreachable source; the message says which."""


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


# --- sources -----------------------------------------------------------------------------


class _API:
    """The gateway's /v1/audit/decisions, as the token's subject may read it."""

    def __init__(self, url: str, token: str | None) -> None:
        if not token:
            raise CommandError("--url needs a bearer token: --token or GATEWAY_TOKEN")
        self._client = httpx.AsyncClient(
            base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    @staticmethod
    def _params(where: AuditFilter) -> dict[str, str]:
        fields = msgspec.structs.asdict(where)
        return {
            k: str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in fields.items()
            if v is not None
        }

    async def _check(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            await response.aread()
            raise CommandError(f"the gateway answered {response.status_code}: {response.text}")

    async def query(self, where: AuditFilter, limit: int) -> list[DecisionRecord]:
        params = {**self._params(where), "limit": str(min(limit, 500))}
        found: list[DecisionRecord] = []
        while len(found) < limit:
            response = await self._client.get("/v1/audit/decisions", params=params)
            await self._check(response)
            page = response.json()
            found += [msgspec.convert(r, DecisionRecord) for r in page["items"]]
            if not page["next_cursor"]:
                break
            params["cursor"] = page["next_cursor"]
        return found[:limit]

    async def export(self, where: AuditFilter) -> AsyncIterator[bytes]:
        params = self._params(where)
        async with self._client.stream("GET", "/v1/audit/decisions/export", params=params) as r:
            await self._check(r)
            async for line in r.aiter_lines():
                if line:
                    yield line.encode()

    async def verify(self) -> ChainReport:
        """A full export checked link by link (from its first record: the API does not say
        where retention left the chain's floor, nor the head)."""
        return await verify_chain(_positions(self.export(AuditFilter())))

    async def aclose(self) -> None:
        await self._client.aclose()


class _Redis:
    def __init__(self, url: str, cluster: bool) -> None:
        from gateway.audit.redis_log import RedisDecisionLog
        from gateway.stores.redis import redis_client_from_url

        self._client = redis_client_from_url(url, cluster=cluster)
        self._log = RedisDecisionLog(self._client)

    async def query(self, where: AuditFilter, limit: int) -> list[DecisionRecord]:
        found: list[DecisionRecord] = []
        before = None
        while len(found) < limit:
            page = await self._log.query(where, before=before, limit=limit - len(found))
            found += page.records
            if page.next_before is None:
                break
            before = page.next_before
        return found

    def export(self, where: AuditFilter) -> AsyncIterator[bytes]:
        return self._log.export(where)

    async def verify(self) -> ChainReport:
        return await self._log.verify()

    async def aclose(self) -> None:
        await self._client.aclose()


Source = _API | _Redis


def open_source(
    url: str | None, token: str | None, redis_url: str | None, *, redis_cluster: bool = False
) -> Source:
    if url:
        return _API(url, token)
    if redis_url:
        return _Redis(redis_url, redis_cluster)
    raise CommandError(
        "no decision log to read: give --url (the gateway's API) or set GATEWAY_REDIS_URL "
        "(the memory log lives inside its gateway: read it through --url)"
    )


async def _positions(lines: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    """An export's records with their own `seq` as position."""
    async for raw in lines:
        try:
            seq = int(msgspec.json.decode(raw)["seq"])
        except (msgspec.DecodeError, KeyError, TypeError, ValueError):
            seq = -1
        yield seq, raw


def _file_lines(path: str) -> AsyncIterator[bytes]:
    """An NDJSON file's lines (opened now: a missing file is a CommandError at once)."""
    try:
        handle = sys.stdin.buffer if path == "-" else Path(path).open("rb")  # noqa: SIM115
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from None

    async def lines() -> AsyncIterator[bytes]:
        with handle:
            for line in handle:
                if line.strip():
                    yield line.rstrip(b"\n")

    return lines()


# --- commands ----------------------------------------------------------------------------


async def _using(source: Source, work: Callable[[Source], Any]) -> Any:
    try:
        return await work(source)
    except BackendUnavailable as exc:
        raise CommandError(exc.detail) from None
    except httpx.HTTPError as exc:
        raise CommandError(f"the gateway did not answer: {exc}") from None
    finally:
        await source.aclose()


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


def query(source: Source, where: AuditFilter, limit: int, as_json: bool, out: TextIO) -> int:
    records: list[DecisionRecord] = asyncio.run(_using(source, lambda s: s.query(where, limit)))
    if as_json:
        for record in records:
            out.write(msgspec.json.encode(record).decode() + "\n")
    else:
        print_table(records, out)
    return 0


def export(source: Source, where: AuditFilter, out: TextIO) -> int:
    async def run(s: Source) -> int:
        n = 0
        async for raw in s.export(where):
            out.write(raw.decode() + "\n")
            n += 1
        return n

    count = asyncio.run(_using(source, run))
    print(f"{count} records", file=sys.stderr)
    return 0


def _report(report: ChainReport, what: str, out: TextIO) -> int:
    if report.ok:
        head = report.head
        print(
            f"ok: {report.checked} records of {what} chain"
            + (f"; head {head.seq} {head.hash}" if head else ""),
            file=out,
        )
        return 0
    print(f"FAILED after {report.checked} intact records: {report.detail}", file=out)
    return 1


def verify(source: Source | None, file: str | None, allow_gaps: bool, out: TextIO) -> int:
    if file is not None:
        report = asyncio.run(verify_chain(_positions(_file_lines(file)), allow_gaps=allow_gaps))
        return _report(report, file, out)
    assert source is not None
    return _report(asyncio.run(_using(source, lambda s: s.verify())), "the log", out)


def _records(lines: AsyncIterator[bytes]) -> AsyncIterator[DecisionRecord]:
    async def decoded() -> AsyncIterator[DecisionRecord]:
        async for raw in lines:
            try:
                yield decode_record(raw)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise CommandError(f"not a decision record: {exc}") from None

    return decoded()


def replay_command(
    candidate_dir: str,
    source: Source | None,
    file: str | None,
    where: AuditFilter,
    as_json: bool,
    out: TextIO,
) -> int:
    from gateway.policy.embedded import compile_policy

    candidate = compile_policy(candidate_dir)  # PolicyLoadError: the caller prints it

    async def collect(lines: AsyncIterator[bytes]) -> list[DecisionRecord]:
        return [r async for r in _records(lines) if where.matches(r)]

    if file is not None:
        records = asyncio.run(collect(_file_lines(file)))
    else:
        assert source is not None
        records = asyncio.run(_using(source, lambda s: collect(s.export(where))))
    report = replay(records, candidate)
    if as_json:
        out.write(msgspec.json.encode(report).decode() + "\n")
    else:
        print_replay(report, candidate.revision, out)
    return 0


def print_replay(report: ReplayReport, revision: str, out: TextIO) -> None:
    print(
        f"candidate revision {revision}: {report.replayed} decisions replayed, "
        f"{len(report.flips)} would flip, {report.unchanged} unchanged, {report.skipped} skipped"
        + (f", {report.masked_inputs} replayed on masked input" if report.masked_inputs else ""),
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
