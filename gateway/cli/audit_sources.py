"""Where `gateway audit query|export|verify` and `gateway policy replay` read the decision
log from:

- `--url https://gateway` (with `GATEWAY_TOKEN` or `--token`): the gateway's own API, so the
  policy decides what the caller may read (any store, memory included);
- otherwise `GATEWAY_REDIS_URL`: the Redis Stream itself (whoever holds the Redis
  credentials reads everything already);
- `verify --file` and `replay --from`: an NDJSON export.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import httpx
import msgspec

from gateway.audit.chain import ChainReport, verify_chain
from gateway.audit.checkpoint import CheckpointSigner, checkpoint_key
from gateway.audit.log import AuditFilter
from gateway.audit.records import DecisionRecord, decode_record
from gateway.audit.redis_log import RedisDecisionLog
from gateway.cli.common import CommandError, settings
from gateway.errors import BackendUnavailable
from gateway.stores.redis.client import redis_client_from_url

T = TypeVar("T")


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

    async def get(self, decision_id: str, enterprise_id: str | None) -> DecisionRecord | None:
        params = {"enterprise_id": enterprise_id} if enterprise_id else {}
        response = await self._client.get(
            f"/v1/audit/decisions/{quote(decision_id, safe='')}", params=params
        )
        if response.status_code == 404:
            return None
        await self._check(response)
        return msgspec.json.decode(response.content, type=DecisionRecord)

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
        return await verify_chain(positions(self.export(AuditFilter())))

    async def aclose(self) -> None:
        await self._client.aclose()


class Redis:
    def __init__(self, url: str, cluster: bool, signer: CheckpointSigner) -> None:
        self._client = redis_client_from_url(url, cluster=cluster)
        self._log = RedisDecisionLog(self._client, signer=signer)

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

    async def get(self, decision_id: str, enterprise_id: str | None) -> DecisionRecord | None:
        """Redis is read as a whole (its credentials read everything): `enterprise_id` only
        checks the record is that enterprise's."""
        record = await self._log.get(decision_id)
        if record is None or (enterprise_id and record.enterprise_id != enterprise_id):
            return None
        return record

    def export(self, where: AuditFilter) -> AsyncIterator[bytes]:
        return self._log.export(where)

    async def verify(self) -> ChainReport:
        return await self._log.verify()

    async def reindex(self) -> int:
        return await self._log.reindex()

    async def aclose(self) -> None:
        await self._client.aclose()


Source = _API | Redis


def open_source(args: argparse.Namespace) -> Source:
    """The log `--url` names, else the Redis log of GATEWAY_REDIS_URL."""
    token = args.token or os.environ.get("GATEWAY_TOKEN")
    if args.url:  # through the API the gateway's own settings are not needed (nor at hand)
        return _API(args.url, token)
    config = settings()
    if config.redis_url:
        signer = CheckpointSigner(checkpoint_key(config.audit_checkpoint_key, config.jwt_secret))
        return Redis(config.redis_url, config.redis_cluster, signer)
    raise CommandError(
        "no decision log to read: give --url (the gateway's API) or set GATEWAY_REDIS_URL "
        "(the memory log lives inside its gateway: read it through --url)"
    )


async def using(source: Source, work: Callable[[Source], Awaitable[T]]) -> T:
    """`work` on `source`, closed after; its failures as CommandErrors."""
    try:
        return await work(source)
    except BackendUnavailable as exc:
        raise CommandError(exc.detail) from None
    except httpx.HTTPError as exc:
        raise CommandError(f"the gateway did not answer: {exc}") from None
    finally:
        await source.aclose()


async def positions(lines: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    """An export's records with their own `seq` as position; closing it closes `lines`."""
    try:
        async for raw in lines:
            try:
                seq = int(msgspec.json.decode(raw)["seq"])
            except (msgspec.DecodeError, KeyError, TypeError, ValueError):
                seq = -1
            yield seq, raw
    finally:
        if isinstance(lines, AsyncGenerator):
            await lines.aclose()


def file_lines(path: str) -> AsyncIterator[bytes]:
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


def records(lines: AsyncIterator[bytes]) -> AsyncIterator[DecisionRecord]:
    """An export's lines as decision records; a line that is not one stops the command."""

    async def decoded() -> AsyncIterator[DecisionRecord]:
        async for raw in lines:
            try:
                yield decode_record(raw)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise CommandError(f"not a decision record: {exc}") from None

    return decoded()
