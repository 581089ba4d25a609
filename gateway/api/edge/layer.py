"""The edge: one ASGI layer around the whole app (outside Litestar's routing and exception
handling), so every answer — a handler's, an error Litestar's exception handling made, a
refusal made here — passes through one `send` wrapper. Per request, in this order:

1. admission (gateway/api/edge/admission.py): past the in-flight limit a prompt 503, before
   anything else is done; /healthz, /readyz and /metrics are exempt;
2. Origin on /mcp (gateway/api/edge/origins.py): an unlisted origin is a 403, a listed one's
   preflight is answered here;
3. the request scope (gateway/audit/scope.py): X-Request-Id, the decisions taken, and
   X-Decision-Id on the answer;
4. the body deadline (gateway/api/edge/deadlines.py) on requests that may carry a body;
5. on the answer's start: the ids, the security headers, CORS (a listed origin on /mcp;
   any origin on the registry, /v0.1), the complete `Allow` of an OPTIONS answer;
6. at the end: the request counted by route template and status (/metrics), and the access
   line.

It replaces six layers (five middlewares and Litestar's `before_send` wrapper, each wrapping
`send` again: ~40 % of a warm read's CPU sat in their frames, docs/performance.md)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from litestar._asgi.asgi_router import ASGIRouter
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils.path import normalize_path

from gateway.api.edge.admission import EXEMPT_PATHS, AdmissionStats, refuse
from gateway.api.edge.allow_header import complete_allow
from gateway.api.edge.deadlines import receive_within
from gateway.api.edge.metrics import CLIENT_CLOSED, status_of_exception
from gateway.api.edge.origins import GUARDED_PATHS, Origins
from gateway.api.edge.paths import route_template
from gateway.api.edge.registry_cors import REGISTRY_PREFIX, add_registry_cors
from gateway.api.edge.request_scope import reads_only, request_id
from gateway.api.edge.security_headers import add_security_headers
from gateway.api.edge.view_lane import PATH as VIEW_PATH
from gateway.api.edge.view_lane import ViewLane
from gateway.audit.recorder import AuditRecorder
from gateway.observability.metrics import ADMISSION_REJECTED, IN_FLIGHT, observe_request

_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})
access = logging.getLogger("gateway.access")


class Edge:
    """`recorder_of` finds the running gateway's recorder (None before the lifespan opened
    it: nothing can be decided then either). `access_log`: one INFO line per request on the
    `gateway.access` logger — method, path, status, time, and what the request noted (the MCP
    method) — inside the request scope, so a JSON line carries its request and decision ids."""

    def __init__(
        self,
        *,
        max_in_flight: int,
        body_timeout_seconds: float,
        allowed_origins: Iterable[str],
        recorder_of: Callable[[], AuditRecorder | None],
        access_log: bool = True,
        view_lane: ViewLane | None = None,
    ) -> None:
        self.admission = AdmissionStats(limit=max_in_flight)
        self._body_timeout = body_timeout_seconds
        self._origins = Origins(allowed_origins)
        self._recorder_of = recorder_of
        self._access_log = access_log
        self._router: ASGIRouter | None = None
        self._lane = view_lane

    def wrap(self, app: ASGIApp, *, router: ASGIRouter | None = None) -> ASGIApp:
        """`router`: the app's, to name the route of a request refused before routing."""
        self._router = router

        async def edge(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            await self._serve(app, scope, receive, send)

        return edge

    def _route_of(self, path: str, method: str) -> str:
        """The route template a request that was never routed would have had ("" for none)."""
        if self._router is None:
            return ""
        try:
            handler, template = self._router.handle_routing(normalize_path(path), method)[1::3]
        except Exception:  # no route: not counted, as a routed 404 is not
            return ""
        routed: Any = {"path_template": template, "route_handler": handler}
        return route_template(routed)

    async def _serve(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        # Before routing: the path as asked (a mount cuts its own path off scope["path"]).
        path: str = scope["path"]
        method: str = scope["method"]  # type: ignore[typeddict-item]  # HTTP: it has one
        status = 0
        origin = self._origins.of(scope) if path in GUARDED_PATHS else None
        recorder = self._recorder_of()
        served: Any = None
        req_id = request_id(scope)

        async def send_once(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers: list[Any] = list(message.get("headers") or ())
                headers.append((b"x-request-id", req_id.encode()))
                if served is not None:
                    settled = recorder.responded(served, status)  # type: ignore[union-attr]
                    if settled is not None:
                        headers.append((b"x-decision-id", settled.encode()))
                add_security_headers(headers, path)
                if origin is not None:
                    self._origins.add_cors(headers, origin)
                elif path.startswith(REGISTRY_PREFIX):
                    add_registry_cors(headers, method)
                if method == "OPTIONS":
                    complete_allow(headers, scope)
                message = {**message, "headers": headers}  # type: ignore[typeddict-item]
            await send(message)

        admitted = path not in EXEMPT_PATHS
        route: str | None = None  # known after routing; a refusal asks the router
        try:
            if admitted and self.admission.in_flight >= self.admission.limit:
                admitted = False
                self.admission.refused += 1
                ADMISSION_REJECTED.inc()
                route = self._route_of(path, method)
                await refuse(send_once, self.admission.limit)
                return
            if admitted:
                self.admission.in_flight += 1
                IN_FLIGHT.inc()
            if origin is not None and await self._origins.answered(scope, origin, send_once):
                return
            if method not in _NO_BODY:
                receive = receive_within(receive, self._body_timeout)
            if recorder is None:
                await app(scope, receive, send_once)
                return
            asked = (
                self._lane.plain(scope)
                if self._lane is not None and path == VIEW_PATH and method == "GET"
                else None
            )
            # Reads only may read ahead; known once routing found the handler (gateway/audit/
            # scope.py): a request that writes could otherwise read back what it read ahead.
            with recorder.request_scope(
                method, path, req_id, read_ahead=lambda: reads_only(scope)
            ) as served:
                try:
                    if asked is not None:
                        await self._lane(scope, receive, send_once, asked)  # type: ignore[misc]
                    else:
                        await app(scope, receive, send_once)
                finally:
                    if self._access_log:
                        _access(served, method, path, status or CLIENT_CLOSED, started)
        except BaseException as exc:
            if not status:
                status = status_of_exception(exc)
            raise
        finally:
            if admitted:
                self.admission.in_flight -= 1
                IN_FLIGHT.dec()
            if route is None:
                route = route_template(scope)
            if route:  # a path that matches no route is not counted (unbounded label values)
                seconds = time.perf_counter() - started
                observe_request(method, route, status or CLIENT_CLOSED, seconds)


def _access(served: Any, method: str, path: str, status: int, started: float) -> None:
    noted = "".join(f" {k}={v}" for k, v in served.notes.items())
    ms = (time.perf_counter() - started) * 1000
    access.info("%s %s %d %.1f ms%s", method, path, status, ms, noted)
