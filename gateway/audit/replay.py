"""Impact analysis before a rollout: logged decisions re-evaluated against a candidate policy
directory, and every one that would come out differently — who gains and who loses access.

Each kind of record is compared on what it decided: an authz decision on `allow`; a
marketplace page on each listing's `allow`; a view scope on the users and enterprises the
view spans; provisioning on `personal_enterprise`. A candidate that answers nothing, or
answers out of shape, denies (as it would in production). The input replayed is the input
as logged, so what the mask erased is missing from it: such records are counted, and a
record whose whole input was erased is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from gateway.audit.records import DecisionRecord
from gateway.errors import BackendUnavailable
from gateway.policy.embedded import CompiledPolicy
from gateway.policy.engine import (
    ACCOUNTS_PROVISION,
    AUTHZ_DECISION,
    MARKETPLACE_LISTINGS,
    SCOPE_VIEW,
    UNDEFINED,
)
from gateway.policy.results import AuthzResult, ListingsResult, ProvisionResult, ScopeResult

_encode = msgspec.json.Encoder().encode


class Flip(msgspec.Struct, kw_only=True, frozen=True):
    """One decision that comes out differently: `gained` (denied before, allowed now) or
    `lost`. For a view scope, what is gained or lost is `resource_id`'s place in the view."""

    change: str  # "gained" | "lost"
    decision_id: str
    timestamp: str
    subject_id: str | None
    action: str | None
    resource_id: str | None
    enterprise_id: str | None
    reasons: list[str] = msgspec.field(default_factory=list)  # the candidate's, when lost
    decided_under: str | None = None  # the revision that made the logged decision


class ActionCounts(msgspec.Struct, kw_only=True):
    gained: int = 0
    lost: int = 0


class ReplayReport(msgspec.Struct, kw_only=True):
    candidate_revision: str = ""
    # How many replayed records each revision decided, by engine (`<revision> (opa)`): the
    # revisions the log was decided under, named as OPA's status and the embedded engine
    # name them (one revision id for the same files on both: gateway/policy/bundle.py).
    decided_under: dict[str, int] = msgspec.field(default_factory=dict)
    replayed: int = 0
    unchanged: int = 0
    skipped: int = 0  # whole input erased, or a path the gateway does not decide
    masked_inputs: int = 0  # replayed, but without what the mask erased or replaced
    flips: list[Flip] = msgspec.field(default_factory=list)
    by_action: dict[str, ActionCounts] = msgspec.field(default_factory=dict)

    def add(self, flip: Flip) -> None:
        self.flips.append(flip)
        counts = self.by_action.setdefault(flip.action or "?", ActionCounts())
        if flip.change == "gained":
            counts.gained += 1
        else:
            counts.lost += 1


def _decided_under(record: DecisionRecord) -> str | None:
    bundle = record.bundles.get("gateway")
    return bundle.revision if bundle is not None else None


def _flip(record: DecisionRecord, allowed: bool, **fields: Any) -> Flip:
    values: dict[str, Any] = {
        "change": "gained" if allowed else "lost",
        "decision_id": record.decision_id,
        "timestamp": record.timestamp,
        "subject_id": record.subject_id,
        "action": record.action,
        "resource_id": record.resource_id,
        "enterprise_id": record.enterprise_id,
        "decided_under": _decided_under(record),
    }
    values.update(fields)
    return Flip(**values)


def _as(result: Any, kind: type[msgspec.Struct]) -> Any:
    if result is UNDEFINED:
        return None
    try:
        return msgspec.convert(result, kind)
    except (msgspec.ValidationError, TypeError):
        return None


def _authz(record: DecisionRecord, after: Any) -> Iterator[Flip]:
    before = _as(record.result, AuthzResult)
    now = _as(after, AuthzResult)
    was, is_ = bool(before and before.allow), bool(now and now.allow)
    if was != is_:
        reasons = [r.code for r in now.reasons] if now else ["policy_error"]
        yield _flip(record, is_, reasons=[] if is_ else reasons)


def _listings(record: DecisionRecord, after: Any) -> Iterator[Flip]:
    before = _as(record.result, ListingsResult)
    now = _as(after, ListingsResult)
    old = before.decisions if before else {}
    new = now.decisions if now else {}
    for listing_id in sorted(set(old) | set(new)):
        was = bool(old.get(listing_id) and old[listing_id].allow)
        is_ = bool(new.get(listing_id) and new[listing_id].allow)
        if was != is_:
            reasons = [r.code for r in new[listing_id].reasons] if listing_id in new else []
            yield _flip(record, is_, resource_id=listing_id, reasons=[] if is_ else reasons)


def _scope(record: DecisionRecord, after: Any) -> Iterator[Flip]:
    before = _as(record.result, ScopeResult)
    now = _as(after, ScopeResult)

    def spans(scope: ScopeResult | None) -> set[tuple[str, str]]:
        if scope is None:
            return set()
        return {("user", u) for u in scope.user_ids} | {("ent", e) for e in scope.enterprise_ids}

    old, new = spans(before), spans(now)
    for kind, value in sorted(old ^ new):
        enterprise = value if kind == "ent" else None
        yield _flip(record, (kind, value) in new, resource_id=value, enterprise_id=enterprise)


def _provision(record: DecisionRecord, after: Any) -> Iterator[Flip]:
    before = _as(record.result, ProvisionResult)
    now = _as(after, ProvisionResult)
    was = bool(before and before.personal_enterprise)
    is_ = bool(now and now.personal_enterprise)
    if was != is_:
        yield _flip(record, is_)


_COMPARE = {
    AUTHZ_DECISION: _authz,
    MARKETPLACE_LISTINGS: _listings,
    SCOPE_VIEW: _scope,
    ACCOUNTS_PROVISION: _provision,
}


def replay(records: Iterable[DecisionRecord], candidate: CompiledPolicy) -> ReplayReport:
    report = ReplayReport(candidate_revision=candidate.revision)
    for record in records:
        compare = _COMPARE.get(record.path)
        if (
            compare is None
            or record.input is None
            or "/input" in record.erased
            or "/input" in record.cut  # only its skeleton was kept (docs/audit.md, Volume)
        ):
            report.skipped += 1
            continue
        if any(p.startswith("/input/") for p in (*record.erased, *record.masked, *record.cut)):
            report.masked_inputs += 1
        try:
            after = candidate.evaluate(record.path, _encode(record.input))
        except BackendUnavailable:
            after = UNDEFINED  # an engine error denies, as it would when serving
        report.replayed += 1
        under = f"{_decided_under(record) or 'unknown'} ({record.labels.get('engine', '?')})"
        report.decided_under[under] = report.decided_under.get(under, 0) + 1
        flips = list(compare(record, after))
        if not flips:
            report.unchanged += 1
        for flip in flips:
            report.add(flip)
    return report
