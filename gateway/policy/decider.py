"""Builds policy input, asks the engine, checks the answer's shape, records the decision.

Python never decides who may do what: it only applies what comes back. Anything other
than a well-formed answer is a deny (or a 503 when the engine itself failed).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import msgspec

from gateway.audit.log import DecisionLog
from gateway.audit.records import DecisionRecord
from gateway.domain.decisions import Decision, Reason, ViewScope
from gateway.domain.subjects import Subject
from gateway.errors import Denied, NotFound
from gateway.policy.engine import (
    ACCOUNTS_PROVISION,
    AUTHZ_DECISION,
    SCOPE_VIEW,
    UNDEFINED,
    PolicyEngine,
)

log = logging.getLogger(__name__)

# Decision ids taken while serving the current request (for the X-Decision-Id header).
request_decisions: ContextVar[list[str] | None] = ContextVar("request_decisions", default=None)


class PolicyInput(msgspec.Struct, kw_only=True):
    action: str
    subject: Subject
    resource: dict[str, Any]
    context: dict[str, Any] = msgspec.field(default_factory=dict)


class SubjectOnlyInput(msgspec.Struct, kw_only=True):
    subject: Subject


class _AuthzResult(msgspec.Struct, kw_only=True, frozen=True):
    allow: bool
    visible: bool
    reasons: tuple[Reason, ...]


class _ScopeResult(msgspec.Struct, kw_only=True, frozen=True):
    unscoped: bool
    user_ids: tuple[str, ...]
    enterprise_ids: tuple[str, ...]


class _ProvisionResult(msgspec.Struct, kw_only=True, frozen=True):
    personal_enterprise: bool


_MALFORMED = Reason(code="policy_error", message="the policy gave no well-formed decision")
_encode = msgspec.json.Encoder().encode


def _new_decision_id() -> str:
    return str(uuid.uuid4())


class Authorizer:
    """The one place the gateway asks for decisions; usable from controllers and the MCP
    proxy alike (it knows nothing about HTTP)."""

    def __init__(
        self,
        engine: PolicyEngine,
        decision_log: DecisionLog,
        *,
        new_id: Callable[[], str] = _new_decision_id,
    ) -> None:
        self.engine = engine
        self._log = decision_log
        self._new_id = new_id

    async def _evaluate(self, path: str, input_doc: msgspec.Struct) -> tuple[str, Any]:
        raw_input = _encode(input_doc)
        started = time.perf_counter_ns()
        result = await self.engine.evaluate(path, raw_input)
        elapsed = time.perf_counter_ns() - started
        decision_id = self._new_id()
        taken = request_decisions.get()
        if taken is not None:
            taken.append(decision_id)
        await self._record(decision_id, path, raw_input, result, elapsed, input_doc)
        return decision_id, result

    async def _record(
        self,
        decision_id: str,
        path: str,
        raw_input: bytes,
        result: Any,
        elapsed_ns: int,
        input_doc: msgspec.Struct,
    ) -> None:
        resource = getattr(input_doc, "resource", {}) or {}
        allowed = result.get("allow") if isinstance(result, dict) else None
        record = DecisionRecord(
            decision_id=decision_id,
            path=path.replace("/", "."),
            input=msgspec.json.decode(raw_input),
            result=None if result is UNDEFINED else result,
            timestamp=datetime.now(UTC).isoformat(),
            revision=self.engine.revision,
            engine=self.engine.name,
            metrics={"timer_eval_ns": elapsed_ns},
            subject_id=input_doc.subject.id,  # type: ignore[attr-defined]
            enterprise_id=resource.get("enterprise_id")
            or (getattr(input_doc, "context", {}) or {}).get("enterprise_id"),
            action=getattr(input_doc, "action", None),
            resource_id=resource.get("id"),
            allowed=allowed if isinstance(allowed, bool) else None,
        )
        await self._log.record(record)

    async def decide(
        self,
        action: str,
        subject: Subject,
        resource: dict[str, Any],
        context: dict[str, Any] | None = None,
    ) -> Decision:
        doc = PolicyInput(action=action, subject=subject, resource=resource, context=context or {})
        decision_id, result = await self._evaluate(AUTHZ_DECISION, doc)
        try:
            parsed = msgspec.convert(result, _AuthzResult)
        except (msgspec.ValidationError, TypeError):
            log.error(
                "policy %s gave a malformed decision %s: denying", AUTHZ_DECISION, decision_id
            )
            return Decision(
                allow=False, visible=False, reasons=(_MALFORMED,), decision_id=decision_id
            )
        return Decision(
            allow=parsed.allow,
            visible=parsed.visible,
            reasons=parsed.reasons,
            decision_id=decision_id,
        )

    async def require(
        self,
        action: str,
        subject: Subject,
        resource: dict[str, Any],
        *,
        what: str,
        context: dict[str, Any] | None = None,
    ) -> Decision:
        """Decide and apply: invisible is a 404 (`what` not found), visible but not allowed a
        403 carrying the policy's reasons."""
        decision = await self.decide(action, subject, resource, context)
        if not decision.visible:
            raise NotFound(f"{what} not found")
        if not decision.allow:
            raise Denied(
                f"{action} on {what} denied by policy",
                reasons=[msgspec.structs.asdict(r) for r in decision.reasons],
                decision_id=decision.decision_id,
            )
        return decision

    async def view_scope(self, subject: Subject) -> ViewScope:
        decision_id, result = await self._evaluate(SCOPE_VIEW, SubjectOnlyInput(subject=subject))
        try:
            parsed = msgspec.convert(result, _ScopeResult)
        except (msgspec.ValidationError, TypeError):
            log.error("policy %s gave a malformed scope %s: empty view", SCOPE_VIEW, decision_id)
            return ViewScope(decision_id=decision_id)
        return ViewScope(
            unscoped=parsed.unscoped,
            user_ids=parsed.user_ids,
            enterprise_ids=parsed.enterprise_ids,
            decision_id=decision_id,
        )

    async def needs_personal_enterprise(self, subject: Subject) -> bool:
        _, result = await self._evaluate(ACCOUNTS_PROVISION, SubjectOnlyInput(subject=subject))
        try:
            return msgspec.convert(result, _ProvisionResult).personal_enterprise
        except (msgspec.ValidationError, TypeError):
            return False
