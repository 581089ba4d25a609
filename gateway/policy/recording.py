"""What the Authorizer needs of the decision log, as a port it defines: which request a
decision is taken for, whether a decision may be taken now (a log that must not miss one
can refuse), and where each decision goes. The audit package implements it
(gateway/audit/recorder.py); the policy package never imports audit, so the log can change
without the decider knowing (as OPA's sdk finds its decision logger through an interface)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

import msgspec

from gateway.domain.requests import RequestInfo


class Decided(msgspec.Struct, kw_only=True, frozen=True):
    """One decision as the policy side knows it: what was asked, what came back, under which
    revision, and the fields auditors query by."""

    decision_id: str
    path: str  # the entrypoint, slashed as OPA writes it
    input: bytes  # the JSON the engine was sent
    result: Any  # the engine's answer; None when it was undefined
    revision: str
    elapsed_ns: int
    remembered: bool  # answered from the memo, not evaluated
    request: RequestInfo
    subject_id: str | None
    enterprise_id: str | None
    action: str
    resource_id: str | None
    allowed: bool | None
    # What the decision was for, where it is not the action itself: `list` (filtering a
    # list: the item was shown or not), `call` (an attempt to use it); None otherwise.
    purpose: str | None = None
    # A page decision (marketplace listings): how many of its items were allowed and denied.
    items_allowed: int | None = None
    items_denied: int | None = None


class DecisionRecorder(Protocol):
    def request(self) -> RequestInfo:
        """The request being served (`input.request`), or an empty one outside any."""
        ...

    def ensure_writable(self) -> None:
        """Raise BackendUnavailable when a decision taken now could not be logged and must
        not be taken (GATEWAY_AUDIT_REQUIRED with the log failing)."""
        ...

    def record(self, decided: Decided) -> Awaitable[None] | None:
        """Log it (or queue it). What it returns, if anything, is awaited before the decision
        takes effect: it raises BackendUnavailable when the decision must be logged first
        and cannot be. (None: queued, nothing to wait for — most decisions.)"""
        ...
