"""Builds policy input, asks the engine, checks the answer's shape, hands the decision to
the recorder (gateway/policy/recording.py: the decision log is behind it).

Python never decides who may do what: it only applies what comes back. Anything other
than a well-formed answer is a deny (or a 503 when the engine itself failed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import msgspec

from gateway.domain.decisions import Decision, Reason, ViewScope
from gateway.domain.ids import new_uuid
from gateway.domain.requests import RequestInfo
from gateway.domain.subjects import Subject
from gateway.errors import BackendUnavailable, Denied, NotFound
from gateway.observability.metrics import observe_decision
from gateway.policy.engine import (
    ACCOUNTS_PROVISION,
    AUTHZ_DECISION,
    MARKETPLACE_LISTINGS,
    SCOPE_VIEW,
    UNDEFINED,
    PolicyEngine,
)
from gateway.policy.inputs import (
    Counts,
    DecisionContext,
    EnterpriseMemberResource,
    InvitationResource,
    ListingItem,
    ListingsInput,
    PolicyInput,
    Resource,
    SubjectInput,
)
from gateway.policy.memo import DecisionMemo, memo_key
from gateway.policy.recording import Decided, DecisionRecorder
from gateway.policy.results import AuthzResult, ListingsResult, ProvisionResult, ScopeResult

log = logging.getLogger(__name__)

_MALFORMED = Reason(code="policy_error", message="the policy gave no well-formed decision")
_encode = msgspec.json.Encoder().encode


def _new_decision_id() -> str:
    return new_uuid()


class Authorizer:
    """The one place the gateway asks for decisions; usable from controllers and the MCP
    proxy alike. It knows nothing about HTTP or the log: the request a decision is taken for
    comes from the recorder, and every decision goes to it."""

    def __init__(
        self,
        engine: PolicyEngine,
        recorder: DecisionRecorder,
        *,
        new_id: Callable[[], str] = _new_decision_id,
        memo: DecisionMemo | None = None,
    ) -> None:
        self.engine = engine
        self._recorder = recorder
        self._new_id = new_id
        self.memo = memo if memo is not None else DecisionMemo()
        self._last_subject_input: tuple[Subject, RequestInfo, SubjectInput, bytes] | None = None
        self._last_key: tuple[bytes, bytes] = (b"", b"")  # an input and its memo key

    def _request(self, env_vars: Sequence[str] | None = None) -> RequestInfo:
        request = self._recorder.request()
        if env_vars is None:
            return request
        return msgspec.structs.replace(request, env_vars=sorted(env_vars))

    def _remembered(
        self, path: str, raw_input: bytes, req_id: str | None
    ) -> tuple[Any, str, bytes | None]:
        """The memo's answer (or None), the revision, and the memo key (None when the policy
        cannot be memoized): the same input (but for the request id) under the same revision
        is answered from the memo when the policy allows it (gateway/policy/memo.py).
        Not a coroutine: most decisions of a warm request end here."""
        revision = self.engine.revision
        if not self.engine.memoizable:
            return None, revision, None
        if raw_input is self._last_key[0]:  # the same input asked again (_subject_input)
            key = self._last_key[1]
        else:
            key = memo_key(raw_input, req_id)
            self._last_key = (raw_input, key)
        return self.memo.get(revision, path, key), revision, key

    async def _answer(
        self, path: str, raw_input: bytes, revision: str, key: bytes | None
    ) -> tuple[Any, str | None, str]:
        """The engine's answer, its decision id, and the revision that answered; remembered
        under `key` when it is that of `revision`."""
        answer = await self.engine.evaluate(path, raw_input)
        answered_by = answer.revision or revision
        if key is not None and answered_by == revision:  # a reload in between: not remembered
            self.memo.put(revision, path, key, answer.result)
        return answer.result, answer.decision_id, answered_by

    async def _evaluate(
        self,
        path: str,
        input_doc: PolicyInput | SubjectInput | ListingsInput,
        *,
        action: str,
        subject: Subject,
        resource_id: str | None = None,
        enterprise_id: str | None = None,
        log_repeats: bool = True,
        purpose: str | None = None,
        raw_input: bytes | None = None,
    ) -> tuple[str, Any]:
        """`log_repeats=False`: a remembered answer is not logged again (a question the
        gateway asks on every request, whose first answer is in the log), and has no
        decision id (""): nothing can refer to it. `raw_input`:
        `input_doc` already encoded."""
        self._recorder.ensure_writable()  # GATEWAY_AUDIT_REQUIRED: no unloggable decision
        if raw_input is None:
            raw_input = _encode(input_doc)
        request = input_doc.request
        started = time.perf_counter_ns()
        result, revision, key = self._remembered(path, raw_input, request.req_id)
        remembered = result is not None
        engine_decision_id: str | None = None
        if not remembered:
            try:
                result, engine_decision_id, revision = await self._answer(
                    path, raw_input, revision, key
                )
            except BackendUnavailable:
                observe_decision(path, "error", False, None)
                raise
        elapsed = time.perf_counter_ns() - started
        allowed = result.get("allow") if isinstance(result, dict) else None
        observe_decision(
            path, _outcome(path, result, allowed), remembered, None if remembered else elapsed / 1e9
        )
        if remembered and not log_repeats:
            return "", result  # not recorded: no decision id to join anything to
        decision_id = engine_decision_id or self._new_id()
        if (
            enterprise_id
            and isinstance(result, dict)
            and result.get("visible") is False
            and enterprise_id not in subject.memberships
        ):
            # An outsider's probe that was answered "not found" is filed under the prober,
            # not under the enterprise probed: its owners read their enterprise's part of the
            # log, not who else exists (auditors find it by user or resource).
            enterprise_id = None
        recording = self._recorder.record(
            Decided(
                decision_id=decision_id,
                path=path,
                input=raw_input,
                result=None if result is UNDEFINED else result,
                revision=revision,
                elapsed_ns=elapsed,
                remembered=remembered,
                request=request,
                subject_id=subject.id,
                enterprise_id=enterprise_id,
                action=action,
                resource_id=resource_id,
                allowed=allowed if isinstance(allowed, bool) else None,
                purpose=purpose,
                **_item_counts(path, result),
            )
        )
        if recording is not None:  # required mode: logged before it takes effect
            await recording
        return decision_id, result

    async def decide(
        self,
        action: str,
        subject: Subject,
        resource: Resource,
        proposed: Resource | None = None,
        *,
        env_vars: Sequence[str] | None = None,
        enterprise_id: str | None = None,
        counts: Counts | None = None,
        purpose: str | None = None,
    ) -> Decision:
        """`data.gateway.authz.decision`. `proposed` is the object as it would be after a
        create or change; `env_vars` the names a credential write sets (never values);
        `purpose` what the record says the decision was for (`list`: filtering a list)."""
        doc = PolicyInput(
            action=action,
            subject=subject,
            resource=resource,
            proposed=proposed,
            request=self._request(env_vars),
            context=DecisionContext(enterprise_id=enterprise_id, counts=counts or Counts()),
        )
        decision_id, result = await self._evaluate(
            AUTHZ_DECISION,
            doc,
            action=action,
            subject=subject,
            resource_id=_resource_id(resource, proposed),
            enterprise_id=_enterprise_id(resource, proposed, enterprise_id),
            purpose=purpose,
        )
        return _parse_decision(result, decision_id, AUTHZ_DECISION)

    async def require(
        self,
        action: str,
        subject: Subject,
        resource: Resource,
        proposed: Resource | None = None,
        *,
        what: str,
        env_vars: Sequence[str] | None = None,
        enterprise_id: str | None = None,
        counts: Counts | None = None,
    ) -> Decision:
        """Decide and apply: invisible is a 404 (`what` not found), visible but not allowed a
        403 carrying the policy's reasons."""
        decision = await self.decide(
            action,
            subject,
            resource,
            proposed,
            env_vars=env_vars,
            enterprise_id=enterprise_id,
            counts=counts,
        )
        return apply(decision, action, what)

    async def missing(
        self, action: str, subject: Subject, resource: Resource, *, what: str
    ) -> NoReturn:
        """The resource does not exist: still a logged decision (auditors see the attempt, and
        the 404 carries an X-Decision-Id exactly like a 404 for what exists but may not be
        seen), then 404 whatever the policy says. `resource` has `exists: false`."""
        await self.decide(action, subject, resource)
        raise NotFound(f"{what} not found")

    def _subject_input(self, subject: Subject) -> tuple[SubjectInput, bytes]:
        """`scope.view` and `accounts.provision` ask about the same subject in the same
        request: its input is encoded once (the last one is kept; both are frozen)."""
        request = self._request()
        last = self._last_subject_input
        if last is not None and last[0] is subject and last[1] is request:
            return last[2], last[3]
        doc = SubjectInput(subject=subject, request=request)
        raw = _encode(doc)
        self._last_subject_input = (subject, request, doc, raw)
        return doc, raw

    async def view_scope(self, subject: Subject) -> ViewScope:
        doc, raw = self._subject_input(subject)
        decision_id, result = await self._evaluate(
            SCOPE_VIEW,
            doc,
            raw_input=raw,
            action="scope.view",
            subject=subject,
            resource_id=subject.id,  # the view of this user
        )
        try:
            parsed = msgspec.convert(result, ScopeResult)
        except (msgspec.ValidationError, TypeError):
            log.error("policy %s gave a malformed scope %s: empty view", SCOPE_VIEW, decision_id)
            return ViewScope(decision_id=decision_id)
        return ViewScope(
            unscoped=parsed.unscoped,
            user_ids=parsed.user_ids,
            enterprise_ids=parsed.enterprise_ids,
            auto_enabled_only=parsed.auto_enabled_only,
            decision_id=decision_id,
        )

    async def needs_personal_enterprise(self, subject: Subject) -> bool:
        doc, raw = self._subject_input(subject)
        _, result = await self._evaluate(
            ACCOUNTS_PROVISION,
            doc,
            raw_input=raw,
            action="accounts.provision",
            subject=subject,
            resource_id=subject.id,
            # Asked on every request of a user without a personal enterprise: the first
            # answer is logged; the same question again under the same policy is not.
            log_repeats=False,
        )
        try:
            return msgspec.convert(result, ProvisionResult).personal_enterprise
        except (msgspec.ValidationError, TypeError):
            return False

    async def install_decisions(
        self, subject: Subject, items: Sequence[ListingItem]
    ) -> dict[str, Decision]:
        """`data.gateway.marketplace.listings`: the `marketplace.install` decision for every
        listing of a page in ONE evaluation (the Rego evaluates authz.decision per item). A
        malformed answer denies every listing asked about."""
        doc = ListingsInput(subject=subject, request=self._request(), listings=list(items))
        decision_id, result = await self._evaluate(
            MARKETPLACE_LISTINGS, doc, action="marketplace.install", subject=subject
        )
        ids = [item.resource.id or "" for item in items]
        try:
            parsed = msgspec.convert(result, ListingsResult).decisions
            return {
                lid: Decision(
                    allow=parsed[lid].allow,
                    visible=parsed[lid].visible,
                    reasons=parsed[lid].reasons,
                    decision_id=decision_id,
                )
                for lid in ids
            }
        except (msgspec.ValidationError, TypeError, KeyError):
            log.error(
                "policy %s gave a malformed answer %s: denying every listing",
                MARKETPLACE_LISTINGS,
                decision_id,
            )
            return {lid: Decision(reasons=(_MALFORMED,), decision_id=decision_id) for lid in ids}


def _item_counts(path: str, result: Any) -> dict[str, int]:
    """A page decision decides many items at once: how many were allowed and denied, so a
    page's denials count like any other (its own `allowed` stays null)."""
    if path != MARKETPLACE_LISTINGS or not isinstance(result, dict):
        return {}
    decisions = result.get("decisions")
    if not isinstance(decisions, dict):
        return {}
    answers = [d.get("allow") is True for d in decisions.values() if isinstance(d, dict)]
    return {"items_allowed": sum(answers), "items_denied": len(answers) - sum(answers)}


def _outcome(path: str, result: Any, allowed: Any) -> str:
    """The decision's label in gateway_decisions_total: an authz decision allows or denies
    (anything else is a malformed answer, denied as an error); the other entrypoints answer
    (a scope, listings) or give nothing usable."""
    if path == AUTHZ_DECISION:
        return "allow" if allowed is True else "deny" if allowed is False else "error"
    return "answered" if isinstance(result, dict) else "error"


def _resource_id(resource: Resource, proposed: Resource | None) -> str | None:
    """What a record says was acted on: the object's id; for a membership or an
    invitation, the user's."""
    if isinstance(resource, EnterpriseMemberResource | InvitationResource):
        return resource.user_id
    return getattr(resource, "id", None) or getattr(proposed, "id", None)


def _enterprise_id(resource: Resource, proposed: Resource | None, asked: str | None) -> str | None:
    """Whose the object is (what an enterprise's admins may read of the log)."""
    return (
        getattr(resource, "enterprise_id", None)
        or getattr(proposed, "enterprise_id", None)
        or asked
    )


def _parse_decision(result: Any, decision_id: str, path: str) -> Decision:
    try:
        parsed = msgspec.convert(result, AuthzResult)
    except (msgspec.ValidationError, TypeError):
        log.error("policy %s gave a malformed decision %s: denying", path, decision_id)
        return Decision(allow=False, visible=False, reasons=(_MALFORMED,), decision_id=decision_id)
    return Decision(
        allow=parsed.allow,
        visible=parsed.visible,
        reasons=parsed.reasons,
        decision_id=decision_id,
        # An approval is only asked for a call that would otherwise not run.
        approval=parsed.approval if not parsed.allow else None,
    )


def apply(decision: Decision, action: str, what: str) -> Decision:
    """Not visible is a 404; visible but not allowed a 403 carrying the policy's reasons."""
    if not decision.visible:
        raise NotFound(f"{what} not found")
    if not decision.allow:
        raise Denied(
            f"{action} on {what} denied by policy",
            reasons=[msgspec.structs.asdict(r) for r in decision.reasons],
            decision_id=decision.decision_id,
        )
    return decision
