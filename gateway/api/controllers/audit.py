"""`/v1/audit/decisions`: the decision log for auditors (docs/audit.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency, Provide
from litestar.params import Parameter
from litestar.response import Stream

from gateway.api.openapi.answers import answers
from gateway.api.pages import Cursor, Limit, Page
from gateway.api.params import (
    ActionQuery,
    DecisionIdParam,
    OptionalEnterpriseId,
    RequestIdQuery,
    ResourceIdQuery,
    UserIdQuery,
)
from gateway.audit.instants import PATTERN as INSTANT_PATTERN
from gateway.audit.instants import BadInstant, ImpossibleInstant, parse_instant
from gateway.audit.log import AuditFilter
from gateway.audit.records import DecisionRecord
from gateway.audit.summary import AuditSummary
from gateway.domain.subjects import Subject
from gateway.errors import InvalidInput, UnprocessableInput
from gateway.services.audit import AuditService
from gateway.services.pagination import DEFAULT_LIMIT, decode_cursor, encode_cursor

NDJSON = "application/x-ndjson"

Allowed = Annotated[
    bool | None, Parameter(description="true: only allowed decisions; false: only denials")
]
Instant = Annotated[
    str | None,
    Parameter(
        description=(
            "RFC 3339 with a time zone (2026-11-30T10:00:00Z), a duration ago (15m, 1h, 7d) "
            "or today (midnight UTC): the CLI's and the console's grammar"
        ),
        max_length=64,
        pattern=INSTANT_PATTERN,
    ),
]
# Every filter a query, an export and a summary take (docs/audit.md, "Queries").
FILTERS = frozenset(
    {"user_id", "enterprise_id", "action", "resource_id", "allowed", "since", "until", "req_id"}
)
_PAGING = frozenset({"limit", "cursor"})
# The query parameters each route knows; any other is a 400 naming it (`?user=bob` used to
# be ignored silently: 191 records of four users came back).
KNOWN_QUERY = "known_query_parameters"


def _instant(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ImpossibleInstant as exc:  # of the documented form: 422 (docs/api-contract.md)
        raise UnprocessableInput.field(name, str(exc)) from None
    except BadInstant as exc:
        raise InvalidInput.field(name, str(exc)) from None


async def reject_unknown_parameters(request: Request[Any, Any, Any]) -> None:
    known: frozenset[str] = request.route_handler.opt.get(KNOWN_QUERY, frozenset())
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise InvalidInput(
            f"unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(known)) or 'none'})",
            fields={name: "unknown query parameter" for name in unknown},
        )


def provide_filter(
    user_id: UserIdQuery = None,
    enterprise_id: OptionalEnterpriseId = None,
    action: ActionQuery = None,
    resource_id: ResourceIdQuery = None,
    allowed: Allowed = None,
    since: Instant = None,
    until: Instant = None,
    req_id: RequestIdQuery = None,
) -> AuditFilter:
    """The query parameters both the list and the export filter on."""
    return AuditFilter(
        user_id=user_id,
        enterprise_id=enterprise_id,
        action=action,
        resource_id=resource_id,
        allowed=allowed,
        req_id=req_id,
        since=_instant("since", since),
        until=_instant("until", until),
    )


MAX_SEQ = 2**63 - 1  # Redis stream ids are 64-bit: a larger one is Redis's error, not a 503


def _before(cursor: str | None) -> int | None:
    if not cursor:  # `?cursor=` is the first page, as on every other list
        return None
    seq = decode_cursor(cursor)
    if not seq.isdigit() or int(seq) > MAX_SEQ:
        raise UnprocessableInput.field("cursor", "not a cursor we issued")
    return int(seq)


async def _lines(records: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for raw in records:
        yield raw + b"\n"


class DecisionPage(Page[DecisionRecord]):
    items: list[DecisionRecord]


class AuditController(Controller):
    path = "/v1/audit/decisions"
    tags = ["audit"]
    dependencies = {"where": Provide(provide_filter, sync_to_thread=False)}

    @get(
        "/",
        summary="Decision records, newest first",
        opt={KNOWN_QUERY: FILTERS | _PAGING},
        before_request=reject_unknown_parameters,
        **answers(404, 422),
    )
    async def list_decisions(
        self,
        subject: NamedDependency[Subject],
        audit: NamedDependency[AuditService],
        where: NamedDependency[AuditFilter],
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> DecisionPage:
        found = await audit.query(subject, where, before=_before(cursor), limit=limit)
        next_cursor = encode_cursor(str(found.next_before)) if found.next_before else None
        return DecisionPage(items=found.records, next_cursor=next_cursor)

    @get(
        "/export",
        summary="Every matching record as NDJSON, oldest first: one OPA decision-log line each",
        media_type=NDJSON,
        opt={KNOWN_QUERY: FILTERS},
        before_request=reject_unknown_parameters,
        **answers(404, 422),
    )
    async def export_decisions(
        self,
        subject: NamedDependency[Subject],
        audit: NamedDependency[AuditService],
        where: NamedDependency[AuditFilter],
    ) -> Stream:
        records = await audit.export(subject, where)
        return Stream(_lines(records), media_type=NDJSON)

    @get(
        "/{decision_id:str}",
        summary="One decision record (the X-Decision-Id of a response)",
        opt={KNOWN_QUERY: frozenset({"enterprise_id"})},
        before_request=reject_unknown_parameters,
        **answers(404),
    )
    async def get_decision(
        self,
        subject: NamedDependency[Subject],
        audit: NamedDependency[AuditService],
        decision_id: DecisionIdParam,
        enterprise_id: OptionalEnterpriseId = None,
    ) -> DecisionRecord:
        return await audit.get(subject, decision_id, enterprise_id)


Top = Annotated[
    int, Parameter(ge=1, le=50, description="entries per list (default 10, at most 50)")
]


class AuditSummaryController(Controller):
    path = "/v1/audit/summary"
    tags = ["audit"]
    dependencies = {"where": Provide(provide_filter, sync_to_thread=False)}

    @get(
        "/",
        summary="Counts of the matching decisions: denials by rule, day, subject and action",
        description=(
            "Bounded: at most 50,000 records are read (`complete: false` beyond: narrow the "
            "filters or the window), `top` entries per list, 400 days. A page decision "
            "counts each item it denied. Who may read it: as for /v1/audit/decisions."
        ),
        opt={KNOWN_QUERY: FILTERS | {"top"}},
        before_request=reject_unknown_parameters,
        **answers(404, 422),
    )
    async def summarize(
        self,
        subject: NamedDependency[Subject],
        audit: NamedDependency[AuditService],
        where: NamedDependency[AuditFilter],
        top: Top = 10,
    ) -> AuditSummary:
        return await audit.summary(subject, where, top=top)
