"""The decision log's side of every decision: the OPA-shaped record built from what the
Authorizer decided, and where it goes — the one rule for writing, queueing and attaching:

- GATEWAY_AUDIT_REQUIRED: written before the decision takes effect (a 503 when it cannot
  be); nothing is done that is not logged. The response's status is unknown then.
- inside a request scope: attached to the request. When the response starts, its status goes
  into each record and they are queued for the writer; the last one's id is the response's
  X-Decision-Id. A request that ends without a response (the client went away) still queues
  what it took.
- outside any request (background work): queued at once.

It implements gateway/policy/recording.DecisionRecorder; the HTTP edge and the MCP handlers
enter `request_scope()`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import msgspec

from gateway.audit import scope as request_scopes
from gateway.audit.log import timestamp_now
from gateway.audit.records import BundleInfo, DecisionRecord, HTTPInfo
from gateway.audit.scope import RequestScope
from gateway.audit.writer import AuditWriter
from gateway.domain.requests import NO_REQUEST, RequestInfo
from gateway.policy.recording import Decided


class AuditRecorder:
    def __init__(self, writer: AuditWriter, *, labels: dict[str, str]) -> None:
        self.writer = writer
        self._labels = labels

    # --- the request scope ---------------------------------------------------------------

    @contextmanager
    def request_scope(
        self,
        method: str | None,
        path: str | None,
        req_id: str,
        *,
        read_ahead: bool | Callable[[], bool] = False,
    ) -> Iterator[RequestScope]:
        """Serve one request: its decisions are attached to it, and queued when the response
        starts (`responded`) or, at the latest, when the block ends."""
        scope = RequestScope(
            RequestInfo(method=method, path=path, req_id=req_id), read_ahead=read_ahead
        )
        with request_scopes.entered(scope):
            try:
                yield scope
            finally:
                if scope.records:  # no response was started (the client went away)
                    self._queue(scope.records)
                    scope.records = []

    def responded(self, scope: RequestScope, status: int) -> str | None:
        """The response starts with `status`: its records are queued with it. Returns the id
        of the decision that settled the request (the last one), if any was taken."""
        if not scope.records:
            return None
        settled = scope.records[-1].decision_id
        self._queue(
            [
                msgspec.structs.replace(
                    r, http=HTTPInfo(method=r.http.method, path=r.http.path, status=status)
                )
                for r in scope.records
            ]
        )
        scope.records = []
        return settled

    def _queue(self, records: list[DecisionRecord]) -> None:
        if not self.writer.required:  # required: each was written before it took effect
            self.writer.submit(records)

    # --- DecisionRecorder ----------------------------------------------------------------

    def request(self) -> RequestInfo:
        scope = request_scopes.current()
        return scope.request if scope is not None else NO_REQUEST

    def ensure_writable(self) -> None:
        self.writer.ensure_writable()

    def record(self, decided: Decided) -> Awaitable[None] | None:
        record = self._record(decided)
        if self.writer.required:
            # Written before the decision takes effect: nothing is done that is not logged
            # (LogUnavailable, a 503, when it cannot be).
            return self._written_first(record)
        self._attach(record)
        return None

    async def _written_first(self, record: DecisionRecord) -> None:
        await self.writer.write([record])
        self._attach(record)

    def _attach(self, record: DecisionRecord) -> None:
        scope = request_scopes.current()
        if scope is not None:
            scope.records.append(record)  # X-Decision-Id; queued when the response starts
        elif not self.writer.required:
            self.writer.submit([record])

    def _record(self, d: Decided) -> DecisionRecord:
        metrics = {"timer_rego_query_eval_ns": d.elapsed_ns}
        if d.remembered:
            metrics["counter_gateway_memoized"] = 1
        return DecisionRecord(
            decision_id=d.decision_id,
            path=d.path,
            # The JSON the engine was sent, as is: decoded (and masked) by the writer.
            input=msgspec.Raw(d.input),
            result=d.result,
            timestamp=timestamp_now(),
            bundles={"gateway": BundleInfo(revision=d.revision)},
            labels=self._labels,
            metrics=metrics,
            req_id=d.request.req_id,
            http=HTTPInfo(method=d.request.method, path=d.request.path),
            subject_id=d.subject_id,
            enterprise_id=d.enterprise_id,
            action=d.action,
            resource_id=d.resource_id,
            allowed=d.allowed,
            purpose=d.purpose,
            items_allowed=d.items_allowed,
            items_denied=d.items_denied,
        )
