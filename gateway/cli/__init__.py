"""`gateway serve | token | policy test|check|eval|schema|push|replay | audit
query|export|verify`: the commands of the quick start, of security teams and of auditors."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.config import REPO_POLICY_DIR, ConfigError, Settings, load_settings

if TYPE_CHECKING:  # imported where used: `gateway serve` starts without the audit tooling
    from litestar import Litestar

    from gateway.audit.commands import Source
    from gateway.audit.log import AuditFilter


class _Exit(Exception):
    """A command stops here with an exit code (its message already printed)."""

    def __init__(self, code: int) -> None:
        self.code = code


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        raise _Exit(2) from None


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.api.deadlines import HeaderDeadlineProtocol

    settings = _settings()
    from gateway.policy.embedded import compile_policy
    from gateway.policy.sources import PolicyLoadError

    try:
        if not settings.opa_url:  # the embedded engine would refuse it at startup anyway
            compile_policy(settings.policy_dir)
    except PolicyLoadError as exc:
        print(f"gateway: policy error:\n{exc}", file=sys.stderr)
        return 2
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers
    if workers < 1:
        print(f"gateway serve: --workers must be at least 1, not {workers}", file=sys.stderr)
        return 2
    if workers > 1 and not settings.redis_url:
        # Each worker is a process of its own: memory stores would be N different gateways.
        print(
            "gateway serve: --workers above 1 needs GATEWAY_REDIS_URL (the memory stores are "
            "per process, so each worker would see different data)",
            file=sys.stderr,
        )
        return 2
    if not settings.auth_enabled and not _is_loopback(host) and not settings.allow_insecure_bind:
        print(
            f"gateway serve: authentication is disabled and {host!r} is not a loopback address: "
            "anyone who reaches it would act on every user's servers. Bind 127.0.0.1, enable "
            "authentication, or set GATEWAY_ALLOW_INSECURE_BIND=true if you really mean it",
            file=sys.stderr,
        )
        return 2
    from gateway.observability.logs import configure_logging

    configure_logging(settings)
    # With JSON logs every line a log pipeline reads is JSON: the banner is a log line too.
    say = logging.getLogger("gateway").info if settings.log_format == "json" else print
    mode = "redis" if settings.redis_url else "memory"
    engine = f"OPA at {settings.opa_url}" if settings.opa_url else "embedded"
    say(f"MCP Policy Gateway on http://{host}:{port} (stores: {mode}, policy engine: {engine})")
    if settings.auth_enabled and settings.jwt_secret:
        say("Get a development token:  gateway token --sub alice --email alice@example.com")
        say("(with the same GATEWAY_JWT_SECRET in the environment)")
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": settings.log_level.lower(),
        "log_config": None,  # uvicorn's loggers propagate to ours (one format, redacted)
        "access_log": False,
        "http": HeaderDeadlineProtocol,  # uvicorn's httptools protocol + a header deadline
        # SIGTERM: stop accepting, wait this long for requests in flight, then the lifespan
        # closes the runtime (the decision log's writer flushes first).
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
    }
    if workers == 1:
        uvicorn.run(served_app(), **options)
        return 0
    # Workers import the app themselves, from the same GATEWAY_* environment; their metrics
    # meet in one directory so a scrape of any worker sums them all.
    created = _metrics_directory()
    say(f"{workers} worker processes")
    try:
        uvicorn.run("gateway.cli:served_app", factory=True, workers=workers, **options)
    finally:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
    return 0


def _metrics_directory() -> str | None:
    """prometheus-client's multiprocess mode for `--workers N`: PROMETHEUS_MULTIPROC_DIR as
    given (emptied of a previous run's files), else a fresh directory removed at exit (its
    path returned). Set before the workers start: they choose the mode when they import."""
    from gateway.observability.metrics import MULTIPROC_ENV

    given = os.environ.get(MULTIPROC_ENV)
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        return None
    created = tempfile.mkdtemp(prefix="gateway-metrics-")
    os.environ[MULTIPROC_ENV] = created
    return created


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def served_app() -> Litestar:
    """The app as `gateway serve` runs it (in each worker): settings from the environment,
    and the garbage collector tuned for a server. With Python's defaults a full collection
    ran every few hundred requests and stopped the loop for tens of milliseconds: the warm
    merged view's p99 was 52-62 ms at a p50 of 15; with what startup built frozen out of
    the collector's way and young-generation collections 70x rarer, 16 ms (and +10 % req/s).
    Reference cycles are still collected."""
    import gc

    from gateway.api.deadlines import HeaderDeadlineProtocol
    from gateway.app import create_app
    from gateway.observability.logs import configure_logging

    settings = _settings()
    configure_logging(settings)  # in each worker process too
    HeaderDeadlineProtocol.header_timeout = settings.header_timeout_seconds
    app = create_app(settings)
    gc.collect()
    gc.freeze()  # modules, policy, catalog: never garbage, never scanned again
    gc.set_threshold(50_000, 20, 100)
    return app


def _token(args: argparse.Namespace) -> int:
    from gateway.auth.dev_tokens import mint_dev_token

    settings = _settings()
    if not settings.jwt_secret:
        print(
            "gateway token: GATEWAY_JWT_SECRET is not set (tokens are signed with it)",
            file=sys.stderr,
        )
        return 2
    print(
        mint_dev_token(
            settings.jwt_secret,
            sub=args.sub,
            email=args.email,
            name=args.name,
            roles=args.role,
            ttl_seconds=args.ttl,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    )
    return 0


def _policy_dir(args: argparse.Namespace) -> str:
    return str(args.dir or os.environ.get("GATEWAY_POLICY_DIR") or REPO_POLICY_DIR)


def _policy_test(args: argparse.Namespace) -> int:
    from gateway.policy.testing import PolicyLoadError, run_policy_tests

    try:
        results = run_policy_tests(_policy_dir(args), run=args.run)
    except (PolicyLoadError, re.error) as exc:
        print(f"gateway policy test: {exc}", file=sys.stderr)
        return 2
    failed = [r for r in results if not r.passed]
    for r in results:
        if r.passed:
            if args.verbose:
                print(f"PASS {r.full_name}")
            continue
        print(f"FAIL {r.full_name}  ({r.location})")
        print("  evaluated to: " + r.output.replace("\n", "\n    "))
        if r.failed_at:
            print(f"  first statement that did not hold, {r.failed_at}")
        for name, value in r.values.items():
            print(f"    {name} = {value}")
        if not r.failed_at:
            print("  " + r.source.replace("\n", "\n  "))
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if not results:
        print("no test matched", file=sys.stderr)
    return 1 if failed or not results else 0


def _policy_check(args: argparse.Namespace) -> int:
    from gateway.policy.embedded import compile_policy
    from gateway.policy.sources import PolicyLoadError

    try:
        compiled = compile_policy(_policy_dir(args))
    except PolicyLoadError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"ok: revision {compiled.revision}, every entrypoint defined")
    return 0


def _policy_eval(args: argparse.Namespace) -> int:
    import msgspec

    from gateway.errors import BackendUnavailable
    from gateway.policy.embedded import compile_policy
    from gateway.policy.engine import ENTRYPOINTS, UNDEFINED
    from gateway.policy.sources import PolicyLoadError

    entrypoint = args.entrypoint.removeprefix("data.").replace(".", "/")
    if entrypoint not in ENTRYPOINTS:
        print(
            f"gateway policy eval: --entrypoint must be one of {list(ENTRYPOINTS)}", file=sys.stderr
        )
        return 2
    try:
        raw = sys.stdin.buffer.read() if args.input == "-" else Path(args.input).read_bytes()
        msgspec.json.decode(raw)  # a clear error for a bad file, before the engine sees it
    except (OSError, msgspec.DecodeError) as exc:
        print(f"gateway policy eval: --input {args.input}: {exc}", file=sys.stderr)
        return 2
    try:
        compiled = compile_policy(_policy_dir(args))
        result = compiled.evaluate(entrypoint, raw)
    except PolicyLoadError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except BackendUnavailable as exc:
        print(f"gateway policy eval: {exc.detail}", file=sys.stderr)
        return 1
    if result is UNDEFINED:
        print(f"data.{entrypoint.replace('/', '.')} is undefined for this input")
        return 1
    print(msgspec.json.format(msgspec.json.encode(result), indent=2).decode())
    return 0


def _policy_push(args: argparse.Namespace) -> int:
    from gateway.policy.push import PushError, push_sync
    from gateway.policy.sources import PolicyLoadError

    try:
        served = push_sync(_policy_dir(args), args.opa_url)
    except (PolicyLoadError, PushError) as exc:
        print(f"gateway policy push: {exc}", file=sys.stderr)
        return 1
    print(f"pushed {len(served)} modules and the data to {args.opa_url}")
    return 0


def _policy_schema(args: argparse.Namespace) -> int:
    import msgspec

    from gateway.policy.inputs import input_schema

    text = msgspec.json.format(msgspec.json.encode(input_schema()), indent=2).decode() + "\n"
    if args.write:
        Path(args.write).mkdir(parents=True, exist_ok=True)
        (Path(args.write) / "input.json").write_text(text)
    else:
        print(text, end="")
    return 0


def _audit_source(args: argparse.Namespace) -> Source:
    from gateway.audit.commands import open_source

    token = args.token or os.environ.get("GATEWAY_TOKEN")
    # Through the API the gateway's own settings are not needed (nor perhaps at hand).
    if args.url:
        return open_source(args.url, token, None)
    settings = _settings()
    return open_source(None, token, settings.redis_url, redis_cluster=settings.redis_cluster)


def _audit_filter(args: argparse.Namespace) -> AuditFilter:
    from gateway.audit.commands import parse_instant
    from gateway.audit.log import AuditFilter

    allowed = {"true": True, "false": False, None: None}[args.allowed]
    return AuditFilter(
        user_id=args.user,
        enterprise_id=args.enterprise,
        action=args.action,
        resource_id=args.resource,
        allowed=allowed,
        req_id=args.req_id,
        since=parse_instant("since", args.since),
        until=parse_instant("until", args.until),
    )


def _audit(run: str) -> Callable[[argparse.Namespace], int]:
    """One `gateway audit …` command: a CommandError is a one-line message and exit 2."""

    def command(args: argparse.Namespace) -> int:
        from gateway.audit import commands

        try:
            if run == "verify" and args.file:
                return commands.verify(None, args.file, args.allow_gaps, sys.stdout)
            source = _audit_source(args)
            if run == "verify":
                return commands.verify(source, None, False, sys.stdout)
            where = _audit_filter(args)
            if run == "query":
                return commands.query(source, where, args.limit, args.json, sys.stdout)
            return commands.export(source, where, sys.stdout)
        except commands.CommandError as exc:
            print(f"gateway audit {run}: {exc}", file=sys.stderr)
            return 2

    return command


def _policy_replay(args: argparse.Namespace) -> int:
    from gateway.audit import commands
    from gateway.policy.sources import PolicyLoadError

    try:
        source = None if args.from_file else _audit_source(args)
        return commands.replay_command(
            args.candidate,
            source,
            args.from_file,
            _audit_filter(args),
            args.json,
            sys.stdout,
        )
    except commands.CommandError as exc:
        print(f"gateway policy replay: {exc}", file=sys.stderr)
        return 2
    except PolicyLoadError as exc:
        print(f"gateway policy replay: the candidate does not load:\n{exc}", file=sys.stderr)
        return 2


def _source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", help="the gateway's base URL (its API; default: GATEWAY_REDIS_URL directly)"
    )
    parser.add_argument("--token", help="bearer token for --url (default GATEWAY_TOKEN)")


def _filter_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", help="the subject's user id")
    parser.add_argument("--enterprise", help="enterprise id")
    parser.add_argument("--action", help="e.g. mcp_server.update")
    parser.add_argument("--resource", help="what was acted on (server, enterprise, user id)")
    parser.add_argument("--allowed", choices=["true", "false"])
    parser.add_argument("--req-id", help="one request's decisions (X-Request-Id)")
    parser.add_argument("--since", help="1h, 30m, 7d, or RFC 3339 with a time zone")
    parser.add_argument("--until", help="like --since (exclusive)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway (configured from GATEWAY_* variables)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port (above 1 needs GATEWAY_REDIS_URL)",
    )
    serve.set_defaults(func=_serve)

    token = sub.add_parser("token", help="mint a development HS256 token from GATEWAY_JWT_SECRET")
    token.add_argument("--sub", required=True, help="the user id")
    token.add_argument("--email", required=True)
    token.add_argument("--name")
    token.add_argument("--role", action="append", default=[], help="platform role, e.g. auditor")
    token.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    token.set_defaults(func=_token)

    policy = sub.add_parser("policy", help="policy tooling for security teams")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    dir_help = "policy directory (default GATEWAY_POLICY_DIR, else the repo's policies/)"
    ptest = policy_sub.add_parser("test", help="run every test_* rule in the policy directory")
    ptest.add_argument("dir", nargs="?", help=dir_help)
    ptest.add_argument("--run", help="only tests whose package.name matches this regex")
    ptest.add_argument("-v", "--verbose", action="store_true", help="list passing tests too")
    ptest.set_defaults(func=_policy_test)
    pcheck = policy_sub.add_parser(
        "check", help="compile, and check every entrypoint is defined (file:line: message)"
    )
    pcheck.add_argument("dir", nargs="?", help=dir_help)
    pcheck.set_defaults(func=_policy_check)
    peval = policy_sub.add_parser("eval", help="evaluate an entrypoint on an input document")
    peval.add_argument("dir", nargs="?", help=dir_help)
    peval.add_argument("--input", required=True, help="input JSON file (- for stdin)")
    peval.add_argument(
        "--entrypoint", default="gateway/authz/decision", help="default gateway/authz/decision"
    )
    peval.set_defaults(func=_policy_eval)
    ppush = policy_sub.add_parser(
        "push", help="upload the directory to an OPA server (Policy and Data APIs)"
    )
    ppush.add_argument("dir", nargs="?", help=dir_help)
    ppush.add_argument("--opa-url", required=True, help="e.g. http://opa:8181")
    ppush.set_defaults(func=_policy_push)
    pschema = policy_sub.add_parser("schema", help="print the policy input's JSON schema")
    pschema.add_argument("--write", help="write input.json into this directory (policies/schemas)")
    pschema.set_defaults(func=_policy_schema)
    preplay = policy_sub.add_parser(
        "replay",
        help="re-evaluate logged decisions against a candidate directory; list what would flip",
    )
    preplay.add_argument("--candidate", required=True, help="the candidate policy directory")
    preplay.add_argument("--from", dest="from_file", help="an NDJSON export instead of the log")
    preplay.add_argument("--json", action="store_true", help="the report as JSON")
    _source_arguments(preplay)
    _filter_arguments(preplay)
    preplay.set_defaults(func=_policy_replay)

    audit = sub.add_parser("audit", help="the decision log, for auditors")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    aquery = audit_sub.add_parser("query", help="decision records, newest first (a table)")
    _source_arguments(aquery)
    _filter_arguments(aquery)
    aquery.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    aquery.add_argument("--json", action="store_true", help="one JSON record per line")
    aquery.set_defaults(func=_audit("query"))
    aexport = audit_sub.add_parser("export", help="NDJSON, oldest first: OPA decision-log lines")
    _source_arguments(aexport)
    _filter_arguments(aexport)
    aexport.set_defaults(func=_audit("export"))
    averify = audit_sub.add_parser(
        "verify", help="walk the hash chain; name the first record altered, removed or reordered"
    )
    _source_arguments(averify)
    averify.add_argument("--file", help="verify an NDJSON export instead (- for stdin)")
    averify.add_argument(
        "--allow-gaps", action="store_true", help="the export is filtered: check each record"
    )
    averify.set_defaults(func=_audit("verify"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except _Exit as stop:
        return stop.code
    return result


if __name__ == "__main__":
    sys.exit(main())
