"""/console: the decision log for auditors and security teams, in a browser (docs/auditors.md).

Server-rendered (Jinja2 templates, SVG charts drawn in Python), no script, every asset
served by the gateway. Read-only: its only POSTs log in and out.

Identity is the API's: the pasted bearer token (from the identity provider; locally a dev
token) is verified by the same Authenticator and kept in an HttpOnly, SameSite=Strict cookie
for `/console` only. Every page reads through AuditService, so the policy (`audit.read`)
decides what each viewer sees: auditors everything, an enterprise's owners and admins that
enterprise (named in the filters), anyone else a 403 page with the policy's reasons.

CSRF: the log-in and log-out POSTs must come from this origin (`Origin`, else `Referer`;
`Sec-Fetch-Site` when sent), on top of the SameSite=Strict cookie; GETs change nothing.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie, State
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Stream, Template

from gateway.api.console.charts import denials_per_rule_per_day, top_denied_subjects
from gateway.api.deps import runtime_of
from gateway.api.errors import status_of
from gateway.api.params import DecisionIdParam
from gateway.audit.instants import BadInstant, parse_instant
from gateway.audit.log import AuditFilter
from gateway.audit.records import DecisionRecord, hash_of
from gateway.audit.replay import ReplayReport
from gateway.audit.replay import replay as replay_records
from gateway.domain.subjects import Subject
from gateway.errors import Denied, GatewayError, InvalidInput, Unauthenticated
from gateway.policy.embedded import compile_policy
from gateway.policy.sources import PolicyLoadError
from gateway.services.audit import AuditService
from gateway.services.policy_status import PolicyStatusService

COOKIE = "gw_console"
PAGE = 50
REPLAY_BUDGET = 20_000  # records a console replay reads at most
_CANDIDATE = re.compile(r"[A-Za-z0-9._-]{1,128}")
_FILTER_NAMES = ("user_id", "enterprise_id", "action", "resource_id", "allowed", "since", "until")
_encode = msgspec.json.Encoder().encode


class ConsoleLogin(Exception):
    """No valid console cookie: the page sends the browser to the log-in form."""


class Form(msgspec.Struct, kw_only=True, frozen=True):
    token: str = ""


async def provide_viewer(request: Request[Any, Any, Any], state: State) -> Subject:
    token = request.cookies.get(COOKIE)
    header = f"Bearer {token}" if token else None
    try:
        viewer = await runtime_of(state).services.authenticator.authenticate(header)
    except Unauthenticated:
        raise ConsoleLogin from None
    request.state.viewer = viewer  # the refusal page names who asked
    return viewer


def provide_console_audit(state: State) -> AuditService:
    return runtime_of(state).services.audit


def provide_console_policy(state: State) -> PolicyStatusService:
    return runtime_of(state).services.policy_status


def _login(request: Request[Any, Any, Any], exc: ConsoleLogin) -> Response[Any]:
    return Redirect("/console/login", status_code=303)


def _refused(request: Request[Any, Any, Any], exc: GatewayError) -> Template:
    status = status_of(exc)
    return Template(
        template_name="refused.html",
        context={
            "status": status,
            "detail": exc.detail,
            "reasons": exc.reasons if isinstance(exc, Denied) else [],
            "decision_id": exc.decision_id if isinstance(exc, Denied) else None,
            "viewer": getattr(request.state, "viewer", None),
            "query_string": "",
        },
        status_code=status,
    )


def _same_origin(request: Request[Any, Any, Any]) -> None:
    """The console's POSTs come from its own pages (CSRF): the browser says where from."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise Denied("cross-site request refused", reasons=[], decision_id=None)
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is None:
        raise Denied("a console form must say where it comes from (Origin)", reasons=[],
                     decision_id=None)  # fmt: skip
    sent = urlsplit(origin)
    host = request.headers.get("host", "")
    if sent.netloc != host or sent.scheme not in ("http", "https"):
        raise Denied("cross-origin request refused", reasons=[], decision_id=None)


def _text(request: Request[Any, Any, Any], name: str) -> str | None:
    value = request.query_params.get(name)
    return value.strip() or None if isinstance(value, str) else None


def _filters(request: Request[Any, Any, Any]) -> tuple[AuditFilter, dict[str, str]]:
    """The search form's fields, as the API reads them (one grammar for times)."""
    raw = {name: v for name in _FILTER_NAMES if (v := _text(request, name)) is not None}
    allowed = {"true": True, "false": False}.get(raw.get("allowed", ""))
    if "allowed" in raw and allowed is None:
        raise InvalidInput.field("allowed", "true or false")
    times: dict[str, str | None] = {}
    for name in ("since", "until"):
        try:
            times[name] = parse_instant(raw[name]) if name in raw else None
        except BadInstant as exc:
            raise InvalidInput.field(name, str(exc)) from None
    where = AuditFilter(
        user_id=raw.get("user_id"),
        enterprise_id=raw.get("enterprise_id"),
        action=raw.get("action"),
        resource_id=raw.get("resource_id"),
        allowed=allowed,
        since=times["since"],
        until=times["until"],
    )
    return where, raw


def _query_string(raw: dict[str, str]) -> str:
    return f"?{urlencode(raw)}" if raw else ""


def name_of(record: DecisionRecord) -> str:
    doc: Any = record.input if isinstance(record.input, dict) else {}
    resource: Any = doc.get("resource") if isinstance(doc.get("resource"), dict) else {}
    for holder in (resource.get("tool"), resource.get("mcp_resource"), resource.get("prompt")):
        if isinstance(holder, dict) and isinstance(holder.get("name"), str):
            server = resource.get("name")
            return f"{server} / {holder['name']}" if isinstance(server, str) else holder["name"]
    for key in ("name", "uri"):
        if isinstance(resource.get(key), str):
            return str(resource[key])
    return ""


def reasons_list(record: DecisionRecord) -> list[dict[str, str]]:
    result = record.result if isinstance(record.result, dict) else {}
    return [r for r in result.get("reasons") or [] if isinstance(r, dict)]


def reasons_of(record: DecisionRecord) -> str:
    return "; ".join(f"{r.get('code')}: {r.get('message', '')}" for r in reasons_list(record))


def _page(template: str, viewer: Subject, **context: Any) -> Template:
    return Template(
        template_name=template,
        context={
            "viewer": viewer,
            "name_of": name_of,
            "reasons_of": reasons_of,
            "query_string": "",
            **context,
        },
    )


class ConsoleController(Controller):
    path = "/console"
    include_in_schema = False
    dependencies = {
        "viewer": Provide(provide_viewer),
        "audit": Provide(provide_console_audit, sync_to_thread=False),
        "policy_status": Provide(provide_console_policy, sync_to_thread=False),
    }
    exception_handlers = {ConsoleLogin: _login, GatewayError: _refused}

    @get("/login")
    async def login_form(self, state: State) -> Template:
        settings = runtime_of(state).settings
        return Template(
            template_name="login.html",
            context={"authorization_servers": settings.oauth_authorization_servers},
        )

    @post("/login", status_code=303)
    async def log_in(
        self,
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[Form, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Response[Any]:
        _same_origin(request)
        token = data.token.strip()
        try:
            await runtime_of(state).services.authenticator.authenticate(f"Bearer {token}")
        except (Unauthenticated, GatewayError) as exc:
            return Template(
                template_name="login.html",
                context={"error": f"that token was refused: {exc.detail}"},
                status_code=401,
            )
        answer: Response[Any] = Redirect("/console", status_code=303)
        answer.cookies.append(
            Cookie(
                key=COOKIE,
                value=token,
                path="/console",
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        )
        return answer

    @post("/logout", status_code=303)
    async def log_out(self, request: Request[Any, Any, Any]) -> Response[Any]:
        _same_origin(request)
        answer: Response[Any] = Redirect("/console/login", status_code=303)
        answer.delete_cookie(COOKIE, path="/console")
        return answer

    @get("/")
    async def search(
        self,
        request: Request[Any, Any, Any],
        viewer: NamedDependency[Subject],
        audit: NamedDependency[AuditService],
    ) -> Template:
        where, raw = _filters(request)
        before = _text(request, "before")
        if before is not None and not before.isdigit():
            raise InvalidInput.field("before", "not a position we issued")
        found = await audit.query(viewer, where, before=int(before) if before else None, limit=PAGE)
        next_url = None
        if found.next_before:
            next_url = "/console?" + urlencode({**raw, "before": str(found.next_before)})
        return _page(
            "search.html",
            viewer,
            records=found.records,
            f=where,
            since=raw.get("since"),
            until=raw.get("until"),
            next_url=next_url,
            query_string=_query_string(raw),
        )

    @get("/decisions/{decision_id:str}")
    async def decision(
        self,
        request: Request[Any, Any, Any],
        viewer: NamedDependency[Subject],
        audit: NamedDependency[AuditService],
        decision_id: DecisionIdParam,
    ) -> Template:
        record = await audit.get(viewer, decision_id, _text(request, "enterprise_id"))
        if record.redacted:
            own = "shown without other enterprises' memberships: verify checks the stored record"
        else:
            fields = msgspec.json.decode(_encode(record))
            holds = hash_of(fields) == record.hash
            own = (
                "this record's content hashes to its hash"
                if holds
                else "its content does not hash to its hash here: run verify"
            )
        return _page(
            "decision.html",
            viewer,
            r=record,
            reasons=reasons_list(record),
            own_hash=own,
            input_json=msgspec.json.format(_encode(record.input), indent=2).decode(),
            result_json=msgspec.json.format(_encode(record.result), indent=2).decode(),
        )

    @get("/charts")
    async def charts(
        self,
        request: Request[Any, Any, Any],
        viewer: NamedDependency[Subject],
        audit: NamedDependency[AuditService],
    ) -> Template:
        where, raw = _filters(request)
        if where.since is None:  # a chart of everything ever is rarely what is meant
            raw = {**raw, "since": "30d"}
            where = msgspec.structs.replace(where, since=parse_instant("30d"))
        summary = await audit.summary(viewer, where, top=10)
        return _page(
            "charts.html",
            viewer,
            s=summary,
            f=where,
            since=raw.get("since"),
            per_rule=denials_per_rule_per_day(summary),
            subjects=top_denied_subjects(summary),
            query_string=_query_string(raw),
        )

    @get("/verify")
    async def verify(
        self,
        request: Request[Any, Any, Any],
        viewer: NamedDependency[Subject],
        audit: NamedDependency[AuditService],
    ) -> Template:
        return _page("verify.html", viewer, report=await audit.verify(viewer))

    @get("/policy")
    async def policy(
        self,
        request: Request[Any, Any, Any],
        viewer: NamedDependency[Subject],
        policy_status: NamedDependency[PolicyStatusService],
    ) -> Template:
        """The revision that decides (on OPA: the one OPA activated), the change it refused
        last, and the bundle served to OPA: `policy.read`, as GET /v1/policy/status."""
        return _page("policy.html", viewer, report=await policy_status.report(viewer))

    @get("/export")
    async def export(
        self,
        request: Request[Any, Any, Any],
        viewer: NamedDependency[Subject],
        audit: NamedDependency[AuditService],
    ) -> Stream:
        where, _ = _filters(request)
        lines = await audit.export(viewer, where)

        async def ndjson() -> AsyncIterator[bytes]:
            async for raw in lines:
                yield raw + b"\n"

        return Stream(
            ndjson(),
            media_type="application/x-ndjson",
            headers={"Content-Disposition": 'attachment; filename="decisions.ndjson"'},
        )

    @get("/replay")
    async def replay(
        self,
        request: Request[Any, Any, Any],
        state: State,
        viewer: NamedDependency[Subject],
        audit: NamedDependency[AuditService],
    ) -> Template:
        root = runtime_of(state).settings.console_candidates_dir
        candidates = _candidates(root)
        chosen = _text(request, "candidate")
        context: dict[str, Any] = {"candidates": candidates, "candidate": chosen}
        where, raw = _filters(request)
        context.update(f=where, since=raw.get("since"))
        if chosen is None or root is None:
            return _page("replay.html", viewer, **context)
        if chosen not in candidates:
            raise InvalidInput.field("candidate", "not one of the candidate directories")
        if where.since is None:
            where = msgspec.structs.replace(where, since=parse_instant("7d"))
        lines = await audit.export(viewer, where)  # the policy decides what is replayed
        found: list[DecisionRecord] = []
        async for line in lines:
            found.append(msgspec.json.decode(line, type=DecisionRecord))
            if len(found) >= REPLAY_BUDGET:
                break
        try:
            report, revision = await asyncio.to_thread(_replayed, Path(root) / chosen, found)
        except PolicyLoadError as exc:
            return _page("replay.html", viewer, error=f"the candidate does not load: {exc}",
                         **context)  # fmt: skip
        return _page("replay.html", viewer, report=report, revision=revision, **context)


def _candidates(root: str | None) -> list[str]:
    if root is None or not Path(root).is_dir():
        return []
    return sorted(
        p.name for p in Path(root).iterdir() if p.is_dir() and _CANDIDATE.fullmatch(p.name)
    )


def _replayed(directory: Path, records: list[DecisionRecord]) -> tuple[ReplayReport, str]:
    candidate = compile_policy(directory)
    return replay_records(records, candidate), candidate.revision
